"""Per-entity checks of the pipeline's guarantees: counts that reconcile stage by stage, and the
duplicate share under its threshold (no clear-text PII past MongoDB is `checks.pii`).

Each is judged in the step of the asset it checks (see `assets`), right after that asset is
computed or, in a checks-only run, on what the asset holds now.
"""

from collections.abc import Generator
from contextlib import closing
from itertools import islice

import dagster as dg
from clickhouse_connect.driver.client import Client

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
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.events import EventLog, lag
from probablyfresh_dagster.markdown import markdown_table
from probablyfresh_dagster.mart_load import NO_KEYS, REJECTED, KeyFate
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.sql import one_row, query, stream_rows

KEYS_NAMED = 10
DUPLICATE_SHARE, COUNTS_RECONCILE = "duplicate_share", "counts_reconcile"


def mart_checks(entity: Entity) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            DUPLICATE_SHARE,
            asset=entity.asset("mart"),
            description=(
                "The latest duplicates_log share of RAW rows repeating a key is within the threshold "
                "(expectations: duplicate_threshold_percent)."
            ),
        ),
        dg.AssetCheckSpec(
            COUNTS_RECONCILE,
            asset=entity.asset("mart"),
            description=(
                "Valid landing records = MongoDB documents of the records still in the landing zone (the "
                "documents of removed files or lines are kept and counted apart, not a failure); RAW has "
                "consumed the topic to its end (Kafka lag 0); MongoDB unique keys = RAW unique keys = MART "
                "rows + keys the MART rejected with a recorded reason. On a mismatch, names up to "
                f"{KEYS_NAMED} keys that do not reconcile, and why."
            ),
        ),
    ]


def duplicate_share(entity: Entity, client: Client, threshold_percent: float) -> dg.AssetCheckResult:
    total, unique, share, logged_at = query(client, "queries/latest_duplicates", entity=entity.name).first_row
    verdict = "within" if share <= threshold_percent else "above"
    return dg.AssetCheckResult(
        asset_key=entity.asset("mart"),
        check_name=DUPLICATE_SHARE,
        passed=share <= threshold_percent,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{share:g}% of {total} RAW rows repeat a key ({unique} unique keys): {verdict} the "
            f"{threshold_percent:g}% threshold"
        ),
        metadata={
            "duplicate_percentage": share,
            "threshold_percent": dg.MetadataValue.text(f"{threshold_percent:g}"),
            "total_rows": total,
            "unique_keys": unique,
            "logged_at": str(logged_at),
        },
    )


def counts_reconcile(
    entity: Entity, files: FilesResource, store: DocumentStore, log: EventLog, client: Client, fates: dict[str, KeyFate]
) -> dg.AssetCheckResult:
    """`fates`: `mart_load.key_fates` of the entity, which its MART step has already read."""
    figures = _stage_counts(entity, files, store, log, client, fates)
    agree = {
        FILES_TO_MONGO: figures["valid_files"] == figures["mongo_documents"] - figures["documents_without_record"],
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
    return dg.AssetCheckResult(
        asset_key=entity.asset("mart"),
        check_name=COUNTS_RECONCILE,
        passed=all(agree.values()),
        description=_reconciliation(figures, agree, named),
        metadata=metadata,
    )


def _reconciliation(figures: dict[str, int], agree: dict[str, bool], named: list[Unreconciled]) -> str:
    """One line of the four comparisons, `≠` where one fails, then the first key that does not reconcile."""

    def sign(stage: str) -> str:
        return "=" if agree[stage] else "≠"

    gone = figures["documents_without_record"]
    line = (
        f"valid files {figures['valid_files']} {sign(FILES_TO_MONGO)} MongoDB documents {figures['mongo_documents']}"
        + (f" − {gone} whose file or line is gone (kept)" if gone else "")
        + "; "
        f"Kafka lag {figures['kafka_lag']}; "
        f"MongoDB keys {figures['mongo_unique_keys']} {sign(MONGO_TO_RAW)} RAW keys {figures['raw_unique_keys']} "
        f"{sign(RAW_TO_MART)} MART rows {figures['mart_rows']} + rejected keys {figures['mart_rejected_keys']}"
    )
    if named:
        line += f" — first: {named[0].key} ({named[0].stage}: {named[0].why})"
    return line


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
    landed = landed_records(entity.name, files.folder(entity), files.max_file_bytes, store)
    documents = store.count(entity.name)
    raw_rows, raw_keys = one_row(client, "queries/raw_summary", table=entity.raw_table)
    return {
        "valid_files": landed.records - rejected,
        "rejected_files": rejected,
        "mongo_documents": documents,
        "documents_without_record": documents - landed.with_document,
        "mongo_unique_keys": store.unique_keys(entity.name),
        "kafka_lag": lag(log, entity.name, CLICKHOUSE_GROUP),
        "raw_rows": raw_rows,
        "raw_unique_keys": raw_keys,
        "mart_rows": one_row(client, "queries/table_rows", table=entity.mart_table)[0],
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
) -> Generator[Unreconciled, None, None]:
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
