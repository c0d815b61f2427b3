"""Per-entity checks of the pipeline's guarantees: no clear-text PII past MongoDB, counts that
reconcile stage by stage, and the duplicate share under its threshold."""

import re
from collections.abc import Iterator
from contextlib import closing
from itertools import islice

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.assets.clickhouse import CLICKHOUSE_POOL
from probablyfresh_dagster.assets.preview import markdown_table
from probablyfresh_dagster.checks.reconcile import (
    FILES_TO_MONGO,
    KAFKA_TO_RAW,
    MONGO_TO_RAW,
    RAW_TO_MART,
    Unreconciled,
    documents_vs_raw,
    files_vs_documents,
    raw_vs_mart,
)
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.landing import source_ids
from probablyfresh_dagster.mart_load import NO_KEYS, REJECTED, KeyFate, key_fates
from probablyfresh_dagster.pii import CLEAR_EMAIL, CLEAR_PHONE
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import DocumentStore, MongoResource
from probablyfresh_dagster.resources.events import EventLog, KafkaResource, lag, sample
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import query, stream_rows

KAFKA_PII_SAMPLE = 500
KEYS_NAMED = 10
_CLEAR_PII = re.compile(f"{CLEAR_EMAIL}|{CLEAR_PHONE}")


class KafkaPiiConfig(dg.Config):
    sample_size: int = KAFKA_PII_SAMPLE
    """Messages read back per entity: a bounded cost however large the topic (see `sample`)."""


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
        description=(
            f"A sample of the topic's messages (by default {KAFKA_PII_SAMPLE}, spread evenly over every "
            "partition from its first offset to its last) holds no clear-text email or phone."
        ),
    )
    def check(config: KafkaPiiConfig, kafka: KafkaResource) -> dg.AssetCheckResult:
        with kafka.open() as log:
            sampled = sample(log, entity.name, config.sample_size)
        leaks = [m for m in sampled.messages if _CLEAR_PII.search(m.value.decode(errors="replace"))]
        return dg.AssetCheckResult(
            passed=not leaks,
            metadata={
                "messages_sampled": len(sampled.messages),
                "topic_offsets": sampled.positions,
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
            "Valid files = MongoDB documents; RAW has consumed the topic to its end (Kafka lag 0); "
            "MongoDB unique keys = RAW unique keys = MART rows + keys the MART rejected with a "
            f"recorded reason. On a mismatch, names up to {KEYS_NAMED} keys that do not reconcile, and why."
        ),
    )
    def check(
        files: FilesResource, mongo: MongoResource, kafka: KafkaResource, clickhouse: ClickHouseResource
    ) -> dg.AssetCheckResult:
        with mongo.open() as store, kafka.open() as log, clickhouse.client() as client:
            fates = key_fates(client, entity)
            figures = _stage_counts(entity, files, store, log, client, fates)
            agree = {
                FILES_TO_MONGO: figures["valid_files"] == figures["mongo_documents"],
                KAFKA_TO_RAW: figures["kafka_lag"] == 0,
                MONGO_TO_RAW: figures["mongo_unique_keys"] == figures["raw_unique_keys"],
                RAW_TO_MART: figures["raw_unique_keys"] == figures["mart_rows"] + figures["mart_rejected_keys"],
            }
            with closing(_unreconciled(entity, files, store, client, fates, figures, agree)) as unreconciled:
                named = list(islice(unreconciled, KEYS_NAMED))
        metadata: dict[str, object] = {**figures}
        if named:
            metadata["unreconciled_keys"] = dg.MetadataValue.md(
                markdown_table(("stage", "key", "why"), [(u.stage, u.key, u.why) for u in named], width=200)
            )
        if rejected := fates.get(REJECTED):
            dropped = [(key, f"dropped by the MART: {reason}") for key, reason in rejected.examples]
            metadata["mart_rejected_examples"] = dg.MetadataValue.md(markdown_table(("key", "why"), dropped, width=200))
        return dg.AssetCheckResult(passed=all(agree.values()), metadata=metadata)

    return check


def _stage_counts(
    entity: Entity,
    files: FilesResource,
    store: DocumentStore,
    log: EventLog,
    client: Client,
    fates: dict[str, KeyFate],
) -> dict[str, int]:
    rejects = files.rejects(entity)
    rejected = sum(1 for _ in rejects.open(encoding="utf-8")) if rejects.exists() else 0
    raw_rows, raw_keys = query(client, "queries/raw_summary", table=entity.raw_table).first_row
    return {
        "valid_files": sum(1 for _ in source_ids(files.folder(entity), files.max_file_bytes)) - rejected,
        "rejected_files": rejected,
        "mongo_documents": store.count(entity.name),
        "mongo_unique_keys": store.unique_keys(entity.name),
        "kafka_lag": lag(log, entity.name, CLICKHOUSE_GROUP),
        "raw_rows": raw_rows,
        "raw_unique_keys": raw_keys,
        "mart_rows": query(client, "queries/table_rows", table=entity.mart_table).first_row[0],
        "mart_rejected_keys": fates.get(REJECTED, NO_KEYS).keys,
    }


def _unreconciled(
    entity: Entity,
    files: FilesResource,
    store: DocumentStore,
    client: Client,
    fates: dict[str, KeyFate],
    figures: dict[str, int],
    agree: dict[str, bool],
) -> Iterator[Unreconciled]:
    """The keys of each stage whose counts disagree, lazily (the caller takes the first few)."""
    if not agree[FILES_TO_MONGO]:
        folder, rejects = files.folder(entity), files.rejects(entity)
        yield from files_vs_documents(entity.name, folder, rejects, files.max_file_bytes, store)
    if not agree[MONGO_TO_RAW]:
        with stream_rows(client, "queries/raw_keys", table=entity.raw_table) as rows:
            raw_keys = (key for (key,) in rows)
            yield from documents_vs_raw(store.key_states(entity.name), raw_keys, figures["kafka_lag"])
    if not agree[RAW_TO_MART]:
        yield from raw_vs_mart(fates)
