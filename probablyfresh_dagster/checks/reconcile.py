"""What `counts_reconcile` compares at the files -> MongoDB stage, and the keys behind a failure:
at which stage each one stops matching, and why.

A landing file may disappear: the landing zone is the user's inbox, and the user may clean it up.
Its documents are kept (the loader upserts, it never deletes), and so is everything downstream;
they are counted apart, as documents whose record is gone, which is not a failure. What fails is a
valid landing record that MongoDB does not hold, or holds in an earlier version the latest load set
aside. So the stage compares the valid landing records with the documents of the records still in
the landing zone (`landed_records`).

The keys are named only for a stage whose counts disagree, and lazily: the caller takes the first
few. Memory stays flat however many records there are: landed records are checked against MongoDB
a batch at a time, MongoDB and RAW keys are two sorted streams merged in one pass, and the RAW ->
MART side comes from ClickHouse already counted, with a few examples (see mart_load.key_fates).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from probablyfresh_dagster.documents import DocumentStore, batched
from probablyfresh_dagster.landing import source_id, source_ids, source_label
from probablyfresh_dagster.mart_load import NO_KEYS, NOT_JUDGED, UNEXPLAINED, KeyFate

BATCH_SIZE = 1000

# The stages counts_reconcile compares. Kafka → RAW is judged on the RAW group's lag only (no keys
# to name): Kafka offsets also number transaction markers, so they do not count messages, and
# every message up to the end is in RAW once the group is there (the loader commits after it
# inserts; `test_crashes` checks RAW against the log message by message).
FILES_TO_MONGO = "files → MongoDB"
KAFKA_TO_RAW = "Kafka → RAW"
MONGO_TO_RAW = "MongoDB → RAW"
RAW_TO_MART = "RAW → MART"


@dataclass(frozen=True)
class Unreconciled:
    stage: str
    key: str
    """The natural key; at the files → MongoDB stage, the record's `source_label`."""
    why: str


@dataclass(frozen=True)
class Landed:
    records: int
    """Every record in the landing zone now (a file, or a line), loaded or set aside."""
    with_document: int
    """Those MongoDB holds a document of."""


def landed_records(collection: str, folder: Path, max_record_bytes: int, store: DocumentStore) -> Landed:
    """The folder's records, and how many of them MongoDB holds, a batch at a time."""
    records = with_document = 0
    for ids in batched(source_ids(folder, max_record_bytes), BATCH_SIZE):
        records += len(ids)
        with_document += len(store.known_source_ids(collection, ids))
    return Landed(records, with_document)


def files_vs_documents(
    collection: str, folder: Path, rejects_files: list[Path], max_record_bytes: int, store: DocumentStore
) -> Iterator[Unreconciled]:
    """Records neither loaded nor set aside, and records set aside whose earlier version MongoDB
    still holds. (Documents whose record is gone are not among them: they are counted apart.)"""
    for ids in batched(_set_aside(rejects_files), BATCH_SIZE):
        for source in sorted(store.known_source_ids(collection, ids)):
            why = "set aside by the latest load, yet MongoDB holds an earlier version"
            yield Unreconciled(FILES_TO_MONGO, source_label(source), why)
    for not_loaded in batched(_not_loaded(collection, folder, max_record_bytes, store), BATCH_SIZE):
        set_aside = set(_set_aside(rejects_files, among=set(not_loaded)))
        for source in not_loaded:
            if source not in set_aside:
                why = "neither in MongoDB nor in the rejects file: not loaded yet"
                yield Unreconciled(FILES_TO_MONGO, source_label(source), why)


def documents_vs_raw(key_states: Iterable[tuple[str, bool]], raw_keys: Iterable[str], kafka_lag: int) -> Iterator[Unreconciled]:
    """Merge MongoDB's keys (with their pending flag) and RAW's keys, both sorted."""
    published = "published, not consumed into RAW yet" if kafka_lag else "published, yet RAW does not hold it"
    only_in_raw = "in RAW, not in MongoDB: its documents were removed, or another producer published it"
    documents, raw = iter(key_states), iter(raw_keys)
    document, raw_key = next(documents, None), next(raw, None)
    while document is not None or raw_key is not None:
        if document is not None and (raw_key is None or document[0] < raw_key):
            key, pending = document
            why = "in MongoDB, not in RAW: " + ("not yet published" if pending else published)
            yield Unreconciled(MONGO_TO_RAW, key, why)
            document = next(documents, None)
        elif raw_key is not None and (document is None or raw_key < document[0]):
            yield Unreconciled(MONGO_TO_RAW, raw_key, only_in_raw)
            raw_key = next(raw, None)
        else:  # the same key on both sides
            document, raw_key = next(documents, None), next(raw, None)


def raw_vs_mart(fates: dict[str, KeyFate]) -> Iterator[Unreconciled]:
    """RAW keys with no MART row that nothing explains yet (rejected keys reconcile)."""
    whys = {
        NOT_JUDGED: "in RAW, not yet judged: the MART has not run since it arrived",
        UNEXPLAINED: "in RAW, not in the MART: no reason recorded",
    }
    for fate, why in whys.items():
        for key, _ in fates.get(fate, NO_KEYS).examples:
            yield Unreconciled(RAW_TO_MART, key, why)


def _not_loaded(collection: str, folder: Path, max_record_bytes: int, store: DocumentStore) -> Iterator[str]:
    for ids in batched(source_ids(folder, max_record_bytes), BATCH_SIZE):
        loaded = store.known_source_ids(collection, ids)
        yield from (source for source in ids if source not in loaded)


def _set_aside(rejects_files: list[Path], among: set[str] | None = None) -> Iterator[str]:
    """Source ids of the records the latest load of each shard set aside (only those `among` a
    batch, if given): the rejects files are read again for each batch rather than held in memory."""
    for rejects_file in rejects_files:
        if not rejects_file.exists():
            continue
        with rejects_file.open(encoding="utf-8") as lines:
            for line in lines:
                rejection = json.loads(line)
                source = source_id(Path(rejection["file"]).name, rejection.get("line"))
                if among is None or source in among:
                    yield source
