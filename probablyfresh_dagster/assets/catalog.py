"""What the Dagster catalog says about an asset of an entity's chain: where it sits, its owners and
kind, and for a ClickHouse table its name, its SQL's version and, once materialized, its columns
as ClickHouse reports them and what chDB's repair did when the step opened it."""

from typing import Any

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.sql import query

OWNERS = ["team:data-platform"]


def stage_spec(
    entity: Entity,
    stage: Stage,
    kind: str,
    description: str,
    table: str | None = None,
    code_version: str | None = None,
    upstream_partitions: dg.PartitionMapping | None = None,
) -> dg.AssetSpec:
    """The asset of `entity` at `stage` (after the first), downstream of the stage before it (of
    the partitions of it that `upstream_partitions` maps to, if given)."""
    stages = list(Stage)
    return dg.AssetSpec(
        entity.asset_key(stage),
        deps=[dg.AssetDep(entity.asset_key(stages[stages.index(stage) - 1]), partition_mapping=upstream_partitions)],
        group_name=entity.name,
        kinds={kind},
        owners=OWNERS,
        description=description,
        metadata={"dagster/table_name": table} if table else None,
        code_version=code_version,
    )


def column_schema(client: Client, table: str, *further: str) -> dict[str, Any]:
    """The columns of `table` as the asset's column schema, each with its DDL comment as its
    description; those of each `further` table of the same asset (Dagster shows one column schema
    per asset) as the entry `<table>_columns`."""
    return {
        "dagster/column_schema": _columns(client, table),
        **{f"{name}_columns": dg.MetadataValue.table_schema(_columns(client, name)) for name in further},
    }


def _columns(client: Client, table: str) -> dg.TableSchema:
    rows = query(client, "queries/columns", table=table).result_rows
    return dg.TableSchema(columns=[dg.TableColumn(name, type, description=comment or None) for name, type, comment in rows])


def chdb_repaired(clickhouse: ClickHouseResource) -> dict[str, dg.MetadataValue]:
    """What chDB's repair did when this step opened ClickHouse (`chdb_repair`), if anything."""
    done = clickhouse.repairs()
    return {"chdb_repaired": dg.MetadataValue.md("\n".join(f"- {line}" for line in done))} if done else {}
