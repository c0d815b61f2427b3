"""`E_mart`: the entity's RAW table cleaned and de-duplicated into its MART tables, with the checks
of what it computed judged in the same step (see `checks.mart_checks`)."""

from collections.abc import Callable
from functools import cache, partial
from typing import Any

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.alerts.freshness import mart_freshness_policy
from probablyfresh_dagster.assets.catalog import chdb_repaired, column_schema, stage_spec
from probablyfresh_dagster.checks import mart_checks
from probablyfresh_dagster.checks.mart_step import MartStep
from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.example_tables import examples_table
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL, CLICKHOUSE_STEP, ClickHouseResource
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import code_version, one_row, query, run_script
from probablyfresh_dagster.verdicts import with_verdicts

PREVIEW_ROWS = 5
MART_SQL = (
    "mart_common",
    "mart_load/judge",
    "mart_load/rejected",
    "mart_load/accepted",
    "mart_load/following",
    "mart_load/judged_dropped",
    "mart_load/watermark",
    "duplicates_log",
)
"""The SQL every MART run executes, besides the entity's own `marts/E.sql`: its code version."""


def build_mart(entity: Entity, shards: int) -> dg.AssetsDefinition:
    checks = mart_checks(entity)

    @dg.multi_asset(
        name=entity.asset_name(Stage.MART),
        specs=[
            stage_spec(
                entity,
                Stage.MART,
                "clickhouse",
                f"ClickHouse {', '.join(f'`{t}`' for t in entity.marts)}: cleaned, typed, one row per "
                f"`{entity.key}` (read with FINAL); the RAW rows the rules refuse, with the reason, in "
                f"`mart_rejects`; and this run's `duplicates_log` row.",
                table=entity.mart_table,
                code_version=code_version(*MART_SQL, f"marts/{entity.name}"),
            ).replace_attributes(freshness_policy=mart_freshness_policy())
        ],
        check_specs=[check.spec(entity) for check in checks],
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
        selected = {key.name for key in context.selected_asset_check_keys}
        with clickhouse.client() as client:
            fates = cache(partial(mart_load.key_fates, client, entity))
            step = MartStep(entity, client, expectations, files, mongo, kafka, fates, shards)
            if context.selected_asset_keys:
                yield _load_mart(context, entity, client, fates, chdb_repaired(clickhouse))
            yield from with_verdicts(context, (check.judge(step) for check in checks if check.name in selected))

    return mart


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
    progress = Progress(context.log, entity.asset_name(Stage.MART), sum(r.upper - r.lower for r in ranges))
    for offsets in ranges:
        start = progress.done
        mart_load.load(client, entity, offsets, run_id, on_read=partial(_advance_from, progress, start))
        progress.advance_to(start + offsets.upper - offsets.lower)
    run_script(client, "duplicates_log", entity=entity.name, raw_table=entity.raw_table, run_id=run_id)
    total, unique, share, _ = one_row(client, "queries/latest_duplicates", entity=entity.name)
    metadata: dict[str, Any] = {f"{table}_rows": one_row(client, "queries/table_rows", table=table)[0] for table in entity.marts}
    rejects = query(client, "queries/run_rejects", entity=entity.name, run_id=run_id, limit=EXAMPLES_SHOWN)
    rejected_keys = fates().get(mart_load.REJECTED, mart_load.NO_KEYS).keys
    # Stored values only: phone and email are Fernet ciphertext there.
    preview = query(client, "queries/preview", table=entity.mart_table, limit=PREVIEW_ROWS)
    rows = metadata[f"{entity.mart_table}_rows"]
    judged = progress.done
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
            "preview": examples_table(preview.column_names, preview.result_rows),
            **column_schema(client, *entity.marts),
            **repaired,
        }
    )
    if rejected:
        first = [row[:-1] for row in rejects.result_rows]  # the run's total closes each row
        metadata["first_rejects"] = examples_table(("key", "partition", "offset", "reason"), first)
    return dg.MaterializeResult(asset_key=entity.asset_key(Stage.MART), metadata=metadata)


def _advance_from(progress: Progress, start: int, rows: int) -> None:
    progress.advance_to(start + rows)
