"""Per-entity checks of the pipeline's guarantees: counts that reconcile stage by stage, and the
duplicate share under its threshold (no clear-text PII past MongoDB is `checks.pii`).

Each is judged in the step of the asset it checks (see `assets`), right after that asset is
computed or, in a checks-only run, on what the asset holds now.
"""

from collections.abc import Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.checks.mart_step import MartCheck, MartStep
from probablyfresh_dagster.checks.reconcile import (
    FILES_TO_MONGO,
    KAFKA_TO_RAW,
    MONGO_TO_RAW,
    RAW_TO_MART,
    Unreconciled,
    documents_vs_raw,
    files_vs_documents,
    landed_records,
    raw_vs_mart,
)
from probablyfresh_dagster.documents import DocumentStore
from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.events import EventLog, lag
from probablyfresh_dagster.example_tables import examples_table
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.mart_load import NO_KEYS, REJECTED, KeyFate
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import one_row, stream_rows

DUPLICATE_SHARE, COUNTS_RECONCILE = "duplicate_share", "counts_reconcile"


def duplicate_share(step: MartStep) -> dg.AssetCheckResult:
    entity, threshold_percent = step.entity, step.expectations.duplicate_threshold_percent
    total, unique, share, logged_at = one_row(step.client, "queries/latest_duplicates", entity=entity.name)
    verdict = "within" if share <= threshold_percent else "above"
    return dg.AssetCheckResult(
        asset_key=entity.asset_key(Stage.MART),
        check_name=DUPLICATE_SHARE,
        passed=share <= threshold_percent,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{share:g}% of {total} RAW rows repeat a key ({unique} unique keys): {verdict} the {threshold_percent:g}% threshold"
        ),
        metadata={
            "duplicate_percentage": share,
            "threshold_percent": dg.MetadataValue.text(f"{threshold_percent:g}"),
            "total_rows": total,
            "unique_keys": unique,
            "logged_at": str(logged_at),
        },
    )


@dataclass(frozen=True)
class StageCounts:
    """What `counts_reconcile` compares, stage by stage (its metadata, in this order)."""

    valid_files: int
    """The landing records now, less those the latest load set aside (one line each in its rejects file)."""
    rejected_files: int
    mongo_documents: int
    documents_without_record: int
    """Documents whose file or line is gone from the landing zone: kept, and counted apart."""
    mongo_unique_keys: int
    kafka_lag: int
    """RAW's consumer group behind the topic's end: Kafka → RAW is judged on it alone (see `reconcile`)."""
    raw_rows: int
    raw_unique_keys: int
    mart_rows: int
    mart_rejected_keys: int
    """RAW keys the MART refused with a recorded reason: they reconcile."""

    def agree(self) -> dict[str, bool]:
        return {
            FILES_TO_MONGO: self.valid_files == self.mongo_documents - self.documents_without_record,
            KAFKA_TO_RAW: self.kafka_lag == 0,
            MONGO_TO_RAW: self.mongo_unique_keys == self.raw_unique_keys,
            RAW_TO_MART: self.raw_unique_keys == self.mart_rows + self.mart_rejected_keys,
        }


def counts_reconcile(step: MartStep) -> dg.AssetCheckResult:
    entity, files, client, fates = step.entity, step.files, step.client, step.fates()
    with step.mongo.open() as store, step.kafka.open() as log:
        counts = _stage_counts(entity, files, step.rejects_files, store, log, client, fates)
        agree = counts.agree()
        with closing(_unreconciled(entity, files, step.rejects_files, store, client, fates, counts, agree)) as unreconciled:
            named = list(islice(unreconciled, EXAMPLES_SHOWN))
    metadata: dict[str, Any] = asdict(counts)
    if named:
        metadata["unreconciled_keys"] = examples_table(("stage", "key", "why"), [(u.stage, u.key, u.why) for u in named])
    if rejected := fates.get(REJECTED):
        dropped = [(key, f"dropped by the MART: {reason}") for key, reason in rejected.examples]
        metadata["mart_rejected_examples"] = examples_table(("key", "why"), dropped)
    return dg.AssetCheckResult(
        asset_key=entity.asset_key(Stage.MART),
        check_name=COUNTS_RECONCILE,
        passed=all(agree.values()),
        description=_reconciliation(counts, agree, named),
        metadata=metadata,
    )


MART_PIPELINE_CHECKS = (
    MartCheck(
        DUPLICATE_SHARE,
        "The latest duplicates_log share of RAW rows repeating a key is within the threshold "
        "(expectations: duplicate_threshold_percent).",
        duplicate_share,
    ),
    MartCheck(
        COUNTS_RECONCILE,
        "Valid landing records = MongoDB documents of the records still in the landing zone (the "
        "documents of removed files or lines are kept and counted apart, not a failure); RAW has "
        "consumed the topic to its end (Kafka lag 0); MongoDB unique keys = RAW unique keys = MART "
        "rows + keys the MART rejected with a recorded reason. On a mismatch, names up to "
        f"{EXAMPLES_SHOWN} keys that do not reconcile, and why.",
        counts_reconcile,
    ),
)
"""The pipeline's checks judged in every entity's MART step."""


def _reconciliation(counts: StageCounts, agree: dict[str, bool], named: list[Unreconciled]) -> str:
    """One line of the four comparisons, `≠` where one fails, then the first key that does not reconcile."""

    def sign(stage: str) -> str:
        return "=" if agree[stage] else "≠"

    gone = counts.documents_without_record
    line = (
        f"valid files {counts.valid_files} {sign(FILES_TO_MONGO)} MongoDB documents {counts.mongo_documents}"
        + (f" − {gone} whose file or line is gone (kept)" if gone else "")
        + "; "
        f"Kafka lag {counts.kafka_lag}; "
        f"MongoDB keys {counts.mongo_unique_keys} {sign(MONGO_TO_RAW)} RAW keys {counts.raw_unique_keys} "
        f"{sign(RAW_TO_MART)} MART rows {counts.mart_rows} + rejected keys {counts.mart_rejected_keys}"
    )
    if named:
        line += f" — first: {named[0].key} ({named[0].stage}: {named[0].why})"
    return line


def _stage_counts(
    entity: Entity,
    files: FilesResource,
    rejects_files: list[Path],
    store: DocumentStore,
    log: EventLog,
    client: Client,
    fates: dict[str, KeyFate],
) -> StageCounts:
    """Each stage counted so that it compares with the next: landing records, not files (a batch file
    holds many); keys from MongoDB on, since several documents or RAW rows may hold one key and the
    MART keeps one row per key; Kafka by RAW's lag, not by offsets (see `reconcile`). The MART's
    rejected keys come from `fates`, which the step has already read."""
    rejected = sum(sum(1 for _ in rejects.open(encoding="utf-8")) for rejects in rejects_files if rejects.exists())
    landed = landed_records(entity.name, files.folder(entity), files.max_file_bytes, store)
    documents = store.count(entity.name)
    raw_rows, raw_keys = one_row(client, "queries/raw_summary", table=entity.raw_table)
    return StageCounts(
        valid_files=landed.records - rejected,
        rejected_files=rejected,
        mongo_documents=documents,
        documents_without_record=documents - landed.with_document,
        mongo_unique_keys=store.unique_keys(entity.name),
        kafka_lag=lag(log, entity.name, CLICKHOUSE_GROUP),
        raw_rows=raw_rows,
        raw_unique_keys=raw_keys,
        mart_rows=one_row(client, "queries/table_rows", table=entity.mart_table)[0],
        mart_rejected_keys=fates.get(REJECTED, NO_KEYS).keys,
    )


def _unreconciled(
    entity: Entity,
    files: FilesResource,
    rejects_files: list[Path],
    store: DocumentStore,
    client: Client,
    fates: dict[str, KeyFate],
    counts: StageCounts,
    agree: dict[str, bool],
) -> Generator[Unreconciled, None, None]:
    """The keys of each stage whose counts disagree, lazily (the caller takes the first few)."""
    if not agree[FILES_TO_MONGO]:
        yield from files_vs_documents(entity.name, files.folder(entity), rejects_files, files.max_file_bytes, store)
    if not agree[MONGO_TO_RAW]:
        with stream_rows(client, "queries/raw_keys", table=entity.raw_table) as rows:
            raw_keys = (key for (key,) in rows)
            yield from documents_vs_raw(store.key_states(entity.name), raw_keys, counts.kafka_lag)
    if not agree[RAW_TO_MART]:
        yield from raw_vs_mart(fates)
