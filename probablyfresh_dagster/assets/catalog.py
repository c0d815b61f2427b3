"""What the Dagster catalog says about an asset of an entity's chain: where it sits, its owners and
kind, and for a ClickHouse table its name, its SQL's version and, once materialized, its columns
as ClickHouse reports them."""

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.sql import query

OWNERS = ["team:data-platform"]
CHAIN = ("json_files", "mongo_collection", "kafka_topic", "clickhouse_raw", "mart")
"""An entity's stages in order: each depends on the one before it."""


def stage_spec(
    entity: Entity, stage: str, kind: str, description: str, table: str | None = None, code_version: str | None = None
) -> dg.AssetSpec:
    """The asset of `entity` at `stage` (after the first), downstream of the stage before it."""
    return dg.AssetSpec(
        entity.asset(stage),
        deps=[entity.asset(CHAIN[CHAIN.index(stage) - 1])],
        group_name=entity.name,
        kinds={kind},
        owners=OWNERS,
        description=description,
        metadata={"dagster/table_name": table} if table else None,
        code_version=code_version,
    )


def column_schema(client: Client, table: str) -> dict[str, object]:
    columns = [
        dg.TableColumn(name, type, description=comment or None)
        for name, type, comment in query(client, "queries/columns", table=table).result_rows
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}
