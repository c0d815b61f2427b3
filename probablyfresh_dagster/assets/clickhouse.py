"""`E_clickhouse_raw` (Kafka -> RAW table) and `E_mart` (RAW -> cleaned, de-duplicated MART),
each with the checks of what it computed, judged in the same step (see `checks`)."""

from collections.abc import Callable, Iterator
from functools import cache, partial

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.assets.catalog import column_schema, stage_spec
from probablyfresh_dagster.checks.business import BUSINESS_CHECKS, business_checks
from probablyfresh_dagster.checks.pii import raw_checks, raw_pii
from probablyfresh_dagster.checks.pipeline import (
    COUNTS_RECONCILE,
    DUPLICATE_SHARE,
    counts_reconcile,
    duplicate_share,
    mart_checks,
)
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.events import EventLog, lag
from probablyfresh_dagster.markdown import markdown_table
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP, load_raw
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL, CLICKHOUSE_STEP, ClickHouseResource
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import code_version, one_row, query, run_script

REJECTS_SHOWN = 10
RAW_SQL = ("raw", "raw_set_aside", "raw_load/set_aside", "raw_reloads", "queries/raw_reload_requested", "raw_load/reloaded")
"""The SQL every RAW run executes: its code version."""
MART_SQL = (
    "mart_common",
    "mart_load/rejected",
    "mart_load/accepted",
    "mart_load/following",
    "mart_load/watermark",
    "duplicates_log",
)
"""The SQL every MART run executes, besides the entity's own `marts/E.sql`: its code version."""


def build_clickhouse_raw(entity: Entity) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset("clickhouse_raw"),
        specs=[
            stage_spec(
                entity,
                "clickhouse_raw",
                "clickhouse",
                f"ClickHouse `{entity.raw_table}`: every message of topic `{entity.name}`, payload as published.",
                table=entity.raw_table,
                code_version=code_version(*RAW_SQL),
            )
        ],
        check_specs=raw_checks(entity),
        can_subset=True,
        pool=CLICKHOUSE_POOL,
        op_tags=CLICKHOUSE_STEP,
    )
    def clickhouse_raw(context: dg.AssetExecutionContext, kafka: EventLogResource, clickhouse: ClickHouseResource):
        with clickhouse.client() as client, kafka.open() as log:
            if context.selected_asset_keys:
                yield _load_raw(context, entity, log, client, _repaired(clickhouse))
            if context.selected_asset_check_keys:
                yield raw_pii(entity, client, log)

    return clickhouse_raw


def _repaired(clickhouse: ClickHouseResource) -> dict[str, dg.MetadataValue]:
    """What chDB's repair did when this step opened ClickHouse (`chdb_repair`), if anything."""
    done = clickhouse.repairs()
    return {"chdb_repaired": dg.MetadataValue.md("\n".join(f"- {line}" for line in done))} if done else {}


def _load_raw(
    context: dg.AssetExecutionContext, entity: Entity, log: EventLog, client: Client, repaired: dict[str, dg.MetadataValue]
) -> dg.MaterializeResult:
    """Every message of the topic not yet in RAW, exactly once (see `raw_load`)."""
    log.ensure_topic(entity.name)
    inserted = load_raw(client, log, entity)
    remaining = lag(log, entity.name, CLICKHOUSE_GROUP)
    rows_total, unique_keys = one_row(client, "queries/raw_summary", table=entity.raw_table)
    context.log.info(f"Inserted {inserted} rows into {entity.raw_table}")
    return dg.MaterializeResult(
        asset_key=entity.asset("clickhouse_raw"),
        metadata={
            "inserted": inserted,
            "dagster/row_count": rows_total,
            "unique_keys": unique_keys,
            "consumer_lag": remaining,
            **column_schema(client, entity.raw_table),
            **repaired,
        },
    )


def build_mart(entity: Entity) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset("mart"),
        specs=[
            stage_spec(
                entity,
                "mart",
                "clickhouse",
                f"ClickHouse {', '.join(f'`{t}`' for t in entity.marts)}: cleaned, typed, one row per "
                f"`{entity.key}` (read with FINAL); the RAW rows the rules refuse, with the reason, in "
                f"`mart_rejects`; and this run's `duplicates_log` row.",
                table=entity.mart_table,
                code_version=code_version(*MART_SQL, f"marts/{entity.name}"),
            )
        ],
        check_specs=[*mart_checks(entity), *business_checks(entity)],
        can_subset=True,
        pool=CLICKHOUSE_POOL,
        op_tags=CLICKHOUSE_STEP,
    )
    def mart(
        context: dg.AssetExecutionContext,
        files: FilesResource,
        mongo: DocumentStoreResource,
        kafka: EventLogResource,
        clickhouse: ClickHouseResource,
        expectations: Expectations,
    ):
        checks = {key.name for key in context.selected_asset_check_keys}
        with clickhouse.client() as client:
            # What became of each RAW key: it scans all of RAW, so the step reads it once, after the load.
            fates = cache(partial(mart_load.key_fates, client, entity))
            if context.selected_asset_keys:
                yield _load_mart(context, entity, client, fates, _repaired(clickhouse))
            if DUPLICATE_SHARE in checks:
                yield duplicate_share(entity, client, expectations.duplicate_threshold_percent)
            if COUNTS_RECONCILE in checks:
                with mongo.open() as store, kafka.open() as log:
                    yield counts_reconcile(entity, files, store, log, client, fates())
            yield from _business(entity, checks, client, expectations)

    return mart


def _business(entity: Entity, checks: set[str], client: Client, expectations: Expectations) -> Iterator[dg.AssetCheckResult]:
    for business in BUSINESS_CHECKS.get(entity.name, ()):
        if business.name in checks:
            yield business.judge(client, expectations)


def _load_mart(
    context: dg.AssetExecutionContext,
    entity: Entity,
    client: Client,
    fates: Callable[[], dict[str, mart_load.KeyFate]],
    repaired: dict[str, dg.MetadataValue],
) -> dg.MaterializeResult:
    run_id = context.run.run_id
    mart_load.prepare(client, entity)
    ranges = mart_load.unjudged_ranges(client, entity)
    for offsets in ranges:
        mart_load.load(client, entity, offsets, run_id)
    run_script(client, "duplicates_log", entity=entity.name, raw_table=entity.raw_table, run_id=run_id)
    total, unique, share, _ = one_row(client, "queries/latest_duplicates", entity=entity.name)
    metadata: dict[str, object] = {
        f"{table}_rows": one_row(client, "queries/table_rows", table=table)[0] for table in entity.marts
    }
    rejects = query(client, "queries/run_rejects", entity=entity.name, run_id=run_id, limit=REJECTS_SHOWN)
    rejected_keys = fates().get(mart_load.REJECTED, mart_load.NO_KEYS).keys
    preview = query(client, "queries/preview", table=entity.mart_table, limit=5)
    rows = metadata[f"{entity.mart_table}_rows"]
    judged = sum(r.upper - r.lower for r in ranges)
    rejected = rejects.result_rows[0][-1] if rejects.result_rows else 0
    context.log.info(f"Judged {judged} RAW rows of {entity.raw_table}: {rejected} rejected")
    metadata.update(
        {
            "dagster/row_count": rows,
            "raw_rows": total,
            "raw_unique_keys": unique,
            "judged_rows": judged,
            "rejected_this_run": rejected,
            "rejected_keys": rejected_keys,
            "duplicate_percentage": share,
            "preview": dg.MetadataValue.md(markdown_table(preview.column_names, preview.result_rows)),
            **column_schema(client, entity.mart_table),
            **repaired,
        }
    )
    if rejected:
        first = [row[:-1] for row in rejects.result_rows]  # the run's total closes each row
        metadata["first_rejects"] = dg.MetadataValue.md(
            markdown_table(("key", "partition", "offset", "reason"), first, width=200)
        )
    return dg.MaterializeResult(asset_key=entity.asset("mart"), metadata=metadata)
