"""Per-entity checks of the pipeline's guarantees: no clear-text PII past MongoDB, counts that
reconcile stage by stage, and the duplicate share under its threshold."""

import re

import dagster as dg

from probablyfresh_dagster.assets.clickhouse import CLICKHOUSE_GROUP, CLICKHOUSE_POOL
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.landing import json_files
from probablyfresh_dagster.pii import CLEAR_EMAIL, CLEAR_PHONE
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoResource
from probablyfresh_dagster.resources.events import KafkaResource, lag
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import query

KAFKA_SAMPLE = 1000
_CLEAR_PII = re.compile(f"{CLEAR_EMAIL}|{CLEAR_PHONE}")


class DuplicateShareConfig(dg.Config):
    threshold_percent: float = 50.0


def entity_checks(entity: Entity) -> list[dg.AssetChecksDefinition]:
    return [
        _kafka_pii_check(entity),
        _raw_pii_check(entity),
        _duplicate_share_check(entity),
        _reconciliation_check(entity),
    ]


def _kafka_pii_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=entity.asset("kafka_topic"),
        name="no_clear_text_pii",
        blocking=True,
        description=f"The newest {KAFKA_SAMPLE} messages of each partition hold no clear-text email or phone.",
    )
    def check(kafka: KafkaResource) -> dg.AssetCheckResult:
        with kafka.open() as log:
            messages = log.tail(entity.name, KAFKA_SAMPLE)
        leaks = [m for m in messages if _CLEAR_PII.search(m.value.decode(errors="replace"))]
        return dg.AssetCheckResult(
            passed=not leaks,
            metadata={
                "messages_scanned": len(messages),
                "messages_with_clear_text_pii": len(leaks),
                "first_offsets": [f"{m.partition}:{m.offset}" for m in leaks[:10]],
            },
        )

    return check


def _raw_pii_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=entity.asset("clickhouse_raw"),
        name="no_clear_text_pii",
        blocking=True,
        pool=CLICKHOUSE_POOL,
        description="No RAW payload holds a clear-text email or phone.",
    )
    def check(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
        with clickhouse.client() as client:
            leaks, scanned = query(
                client, "queries/pii_leaks", table=entity.raw_table, email=CLEAR_EMAIL, phone=CLEAR_PHONE
            ).first_row
        return dg.AssetCheckResult(
            passed=leaks == 0, metadata={"rows_scanned": scanned, "rows_with_clear_text_pii": leaks}
        )

    return check


def _duplicate_share_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=entity.asset("mart"),
        name="duplicate_share",
        pool=CLICKHOUSE_POOL,
        description="The latest duplicates_log share of RAW rows repeating a key is within the threshold.",
    )
    def check(config: DuplicateShareConfig, clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
        with clickhouse.client() as client:
            total, unique, share, logged_at = query(
                client, "queries/latest_duplicates", entity=entity.name
            ).first_row
        return dg.AssetCheckResult(
            passed=share <= config.threshold_percent,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "duplicate_percentage": share,
                "threshold_percent": config.threshold_percent,
                "total_rows": total,
                "unique_keys": unique,
                "logged_at": str(logged_at),
            },
        )

    return check


def _reconciliation_check(entity: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=entity.asset("mart"),
        name="counts_reconcile",
        pool=CLICKHOUSE_POOL,
        description=(
            "Valid files = MongoDB documents; Kafka messages = RAW rows (nothing left to consume); "
            "MongoDB unique keys = RAW unique keys = MART rows."
        ),
    )
    def check(
        files: FilesResource, mongo: MongoResource, kafka: KafkaResource, clickhouse: ClickHouseResource
    ) -> dg.AssetCheckResult:
        figures = _stage_counts(entity, files, mongo, kafka, clickhouse)
        passed = (
            figures["valid_files"] == figures["mongo_documents"]
            and figures["kafka_messages"] == figures["raw_rows"]
            and figures["kafka_lag"] == 0
            and figures["mongo_unique_keys"] == figures["raw_unique_keys"] == figures["mart_rows"]
        )
        return dg.AssetCheckResult(passed=passed, metadata=figures)

    return check


def _stage_counts(
    entity: Entity,
    files: FilesResource,
    mongo: MongoResource,
    kafka: KafkaResource,
    clickhouse: ClickHouseResource,
) -> dict[str, int]:
    rejects = files.rejects(entity)
    rejected = sum(1 for _ in rejects.open(encoding="utf-8")) if rejects.exists() else 0
    with mongo.open() as store:
        documents, mongo_keys = store.count(entity.name), store.unique_keys(entity.name)
    with kafka.open() as log:
        messages = sum(log.end_offsets(entity.name).values())
        remaining = lag(log, entity.name, CLICKHOUSE_GROUP)
    with clickhouse.client() as client:
        raw_rows, raw_keys = query(client, "queries/raw_summary", table=entity.raw_table).first_row
        mart_rows = query(client, "queries/table_rows", table=entity.mart_table).first_row[0]
    return {
        "valid_files": sum(1 for _ in json_files(files.folder(entity))) - rejected,
        "rejected_files": rejected,
        "mongo_documents": documents,
        "mongo_unique_keys": mongo_keys,
        "kafka_messages": messages,
        "kafka_lag": remaining,
        "raw_rows": raw_rows,
        "raw_unique_keys": raw_keys,
        "mart_rows": mart_rows,
    }
