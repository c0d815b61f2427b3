"""`E_clickhouse_raw`: every Kafka message of the entity's topic, once, in its RAW table, with the
check that no RAW row holds clear-text PII, judged in the same step (see `checks.pii`)."""

from datetime import UTC, datetime

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.assets.catalog import chdb_repaired, column_schema, stage_spec
from probablyfresh_dagster.assets.sharding import shard_partitions, shards_of
from probablyfresh_dagster.checks.pii import raw_checks, raw_pii
from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.events import EventLog, lag
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP, load_raw
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL, CLICKHOUSE_STEP, ClickHouseResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.sql import code_version, one_row, run_script
from probablyfresh_dagster.verdicts import with_verdicts

RAW_SQL = (
    "raw",
    "raw_set_aside",
    "raw_load/set_aside",
    "raw_reloads",
    "queries/raw_reload_requested",
    "raw_load/reloaded",
    "kafka_lag",
    "raw_load/kafka_lag",
)
"""The SQL every RAW run executes: its code version."""


def build_clickhouse_raw(entity: Entity, shards: int) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset_name(Stage.CLICKHOUSE_RAW),
        specs=[
            stage_spec(
                entity,
                Stage.CLICKHOUSE_RAW,
                "clickhouse",
                f"ClickHouse `{entity.raw_table}`: every message of topic `{entity.name}`, payload as published.",
                table=entity.raw_table,
                code_version=code_version(*RAW_SQL),
                # A shard's partitions of the topic hold the messages of every publishing shard.
                upstream_partitions=dg.AllPartitionMapping() if shards > 1 else None,
            )
        ],
        check_specs=raw_checks(entity),
        can_subset=True,
        partitions_def=shard_partitions(shards),
        pool=CLICKHOUSE_POOL,
        op_tags=CLICKHOUSE_STEP,
    )
    def clickhouse_raw(context: dg.AssetExecutionContext, kafka: EventLogResource, clickhouse: ClickHouseResource):
        with clickhouse.client() as client, kafka.open() as log:
            if context.selected_asset_keys:
                yield _load_raw(context, entity, log, client, chdb_repaired(clickhouse), clickhouse.cluster)
            if context.selected_asset_check_keys:
                yield from with_verdicts(context, [raw_pii(entity, client, log)])

    return clickhouse_raw


def _load_raw(
    context: dg.AssetExecutionContext,
    entity: Entity,
    log: EventLog,
    client: Client,
    repaired: dict[str, dg.MetadataValue],
    cluster: str | None,
) -> dg.MaterializeResult:
    """Every message of the topic not yet in RAW, exactly once (see `raw_load`)."""
    log.ensure_topic(entity.name)
    started_at, found = datetime.now(UTC), lag(log, entity.name, CLICKHOUSE_GROUP)
    progress = Progress(context.log, entity.asset_name(Stage.CLICKHOUSE_RAW))
    inserted = sum(load_raw(client, log, entity, progress=progress, cluster=cluster, shard=shard) for shard in shards_of(context))
    remaining = lag(log, entity.name, CLICKHOUSE_GROUP)
    # Both samples once the load is done: a step that fails records none, and creates its RAW tables first.
    run_script(client, "kafka_lag")
    run_script(
        client,
        "raw_load/kafka_lag",
        entity=entity.name,
        found=found,
        left=remaining,
        run_id=context.run.run_id,
        started_at=started_at,
    )
    rows_total, unique_keys = one_row(client, "queries/raw_summary", table=entity.raw_table)
    context.log.info(f"Inserted {inserted} rows into {entity.raw_table}")
    return dg.MaterializeResult(
        asset_key=entity.asset_key(Stage.CLICKHOUSE_RAW),
        metadata={
            "inserted": inserted,
            "dagster/row_count": rows_total,
            "unique_keys": unique_keys,
            "consumer_lag": remaining,
            **column_schema(client, entity.raw_table),
            **repaired,
        },
    )
