"""Contract tests of the document store, run against every implementation in STORES.

The embedded SQLite store, and pymongo against FerretDB (a MongoDB wire-protocol server, started
once per session on loopback) with a fresh database per test.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from probablyfresh_dagster.documents import DocumentStore, PendingDocument, SourceDocument, UpsertCounts, content_hash
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources import mongo_documents, sqlite_documents
from probablyfresh_dagster.resources.documents import SqliteDocumentStoreResource
from probablyfresh_dagster.resources.mongo_documents import MongoDocumentStore
from probablyfresh_dagster.resources.sqlite_documents import SqliteDocumentStore

from .servers import backend_params
from .support import run_in_processes, wait_for

LEASE_SECONDS = 2.0
"""The MongoDB lease's lifetime in these tests, so that a dead holder's lease expires quickly."""

STORES: dict[str, Callable[[pytest.FixtureRequest, Path], tuple[str, ...]]] = {
    "sqlite": lambda request, tmp_path: ("sqlite", str(tmp_path / "documents.sqlite")),
    "ferretdb": lambda request, tmp_path: (
        "mongo",
        f"mongodb://127.0.0.1:{request.getfixturevalue('ferretdb_port')}",
        f"test_{uuid.uuid4().hex[:12]}",
    ),
}
"""How to open each store, as plain values that a spawned process can receive too."""
COLLECTION = "stores"
WRITE_BATCH = 100


def open_store(spec: tuple[str, ...], lease_seconds: float = LEASE_SECONDS) -> DocumentStore:
    kind, *where = spec
    if kind == "sqlite":
        return SqliteDocumentStore(*where)
    url, database = where
    return MongoDocumentStore(url, database, lease_seconds=lease_seconds)


@pytest.fixture(params=backend_params(STORES))
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ...]:
    return STORES[request.param](request, tmp_path)


@pytest.fixture
def store(store_spec: tuple[str, ...]) -> Iterator[DocumentStore]:
    opened = open_store(store_spec)
    try:
        yield opened
    finally:
        opened.close()


def doc(source_id: str, key: str | None = None, **fields: object) -> SourceDocument:
    natural_key = key or source_id
    return SourceDocument(source_id, natural_key, {"store_id": natural_key, **fields})


def pending_ids(store: DocumentStore) -> list[str]:
    """The pending documents' ids, checking that `pending_count` counts as many."""
    ids = [d.source_id for batch in store.pending(COLLECTION) for d in batch]
    assert store.pending_count(COLLECTION) == len(ids)
    return ids


def test_upsert_counts_inserts_then_unchanged_then_updates(store: DocumentStore) -> None:
    first = [doc("a", name="A"), doc("b", name="B"), doc("c", name="C")]
    assert store.upsert(COLLECTION, first) == UpsertCounts(inserted=3)
    assert store.upsert(COLLECTION, first) == UpsertCounts(unchanged=3)

    changed = [doc("a", name="A"), doc("b", name="B2"), doc("c", name="C"), doc("d")]
    assert store.upsert(COLLECTION, changed) == UpsertCounts(inserted=1, updated=1, unchanged=2)
    assert store.count(COLLECTION) == 4


def test_field_order_is_not_a_change(store: DocumentStore) -> None:
    store.upsert(COLLECTION, [SourceDocument("a", "k", {"x": 1, "y": {"p": 1, "q": 2}})])
    reordered = SourceDocument("a", "k", {"y": {"q": 2, "p": 1}, "x": 1})
    assert store.upsert(COLLECTION, [reordered]) == UpsertCounts(unchanged=1)


def test_documents_are_pending_only_after_a_change(store: DocumentStore) -> None:
    store.upsert(COLLECTION, [doc("a", name="A"), doc("b", name="Bé")])
    (batch,) = store.pending(COLLECTION)
    assert [(d.source_id, d.body) for d in batch] == [
        ("a", {"store_id": "a", "name": "A"}),
        ("b", {"store_id": "b", "name": "Bé"}),
    ]

    store.mark_published(COLLECTION, [d.version for d in batch], {})
    assert pending_ids(store) == []
    store.upsert(COLLECTION, [doc("a", name="A"), doc("b", name="Bé")])
    assert pending_ids(store) == []

    store.upsert(COLLECTION, [doc("a", name="A"), doc("b", name="B2")])
    (changed,) = store.pending(COLLECTION)
    assert [(d.source_id, d.body["name"]) for d in changed] == [("b", "B2")]
    assert changed[0].content_hash != batch[1].content_hash


def test_publishing_a_stale_version_keeps_the_new_one_pending(store: DocumentStore) -> None:
    store.upsert(COLLECTION, [doc("a", name="v1")])
    (stale,) = store.pending(COLLECTION)
    store.upsert(COLLECTION, [doc("a", name="v2")])

    store.mark_published(COLLECTION, [d.version for d in stale], {})
    (current,) = store.pending(COLLECTION)
    assert [d.body["name"] for d in current] == ["v2"]

    store.mark_published(COLLECTION, [d.version for d in current], {})
    assert pending_ids(store) == []


def test_shared_natural_key_counts_twice_but_is_one_unique_key(store: DocumentStore) -> None:
    store.upsert(COLLECTION, [doc("file-1", key="S1"), doc("file-2", key="S1"), doc("file-3")])
    assert store.count(COLLECTION) == 3
    assert store.unique_keys(COLLECTION) == 2


def test_pending_pages_in_source_id_order_while_batches_are_published(
    store: DocumentStore,
) -> None:
    ids = [f"doc-{i:03d}" for i in range(25)]
    store.upsert(COLLECTION, [doc(i) for i in reversed(ids)])

    seen: list[str] = []
    sizes: list[int] = []
    for batch in store.pending(COLLECTION, batch_size=10):
        sizes.append(len(batch))
        seen.extend(d.source_id for d in batch)
        store.mark_published(COLLECTION, [d.version for d in batch], {})

    assert sizes == [10, 10, 5]
    assert seen == ids
    assert pending_ids(store) == []


def test_collections_are_separate(store: DocumentStore) -> None:
    store.upsert("stores", [doc("a"), doc("b")])
    assert store.upsert("products", [doc("a")]) == UpsertCounts(inserted=1)
    assert (store.count("stores"), store.count("products")) == (2, 1)
    assert store.count("customers") == store.unique_keys("customers") == 0


def test_more_documents_than_one_write_batch(store: DocumentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write batch of WRITE_BATCH documents instead of 1000: FerretDB takes tens of
    milliseconds per update, and 1200 documents took 50 s in CI."""
    for module in (mongo_documents, sqlite_documents):
        monkeypatch.setattr(module, "UPSERT_BATCH_SIZE", WRITE_BATCH)
    total, keys = WRITE_BATCH * 6 // 5, WRITE_BATCH * 7 // 10
    documents = [doc(f"d{i:05d}", key=f"k{i % keys}") for i in range(total)]
    assert store.upsert(COLLECTION, iter(documents)) == UpsertCounts(inserted=total)
    assert store.upsert(COLLECTION, iter(documents)) == UpsertCounts(unchanged=total)
    assert (store.count(COLLECTION), store.unique_keys(COLLECTION)) == (total, keys)

    changed = (doc(d.source_id, key=d.key, version=2) for d in documents)
    assert store.upsert(COLLECTION, changed) == UpsertCounts(updated=total)
    for batch in store.pending(COLLECTION, batch_size=WRITE_BATCH):
        store.mark_published(COLLECTION, [d.version for d in batch], {})
    assert pending_ids(store) == []


def test_known_source_ids_are_those_of_a_batch_that_have_a_document(store: DocumentStore) -> None:
    store.upsert(COLLECTION, [doc(f"doc-{i:02d}") for i in range(7)])
    assert store.known_source_ids(COLLECTION, ["doc-01", "nope", "doc-06"]) == {"doc-01", "doc-06"}
    assert store.known_source_ids("products", ["doc-01"]) == set()


def test_key_states_sort_keys_by_code_point_and_flag_unpublished_ones(store: DocumentStore) -> None:
    keys = ["Zeta", "alpha", "ёж", "Яблоко", "ä"]
    store.upsert(COLLECTION, [doc(f"file-{i}", key=key) for i, key in enumerate(keys)])
    store.upsert(COLLECTION, [doc("file-copy", key="alpha")])
    for batch in store.pending(COLLECTION):
        store.mark_published(COLLECTION, [d.version for d in batch if d.source_id != "file-copy"], {})
    store.upsert(COLLECTION, [doc("file-0", key="Zeta", version=2), SourceDocument("file-empty", "", {"store_id": ""})])

    assert list(store.key_states(COLLECTION, batch_size=2)) == [
        ("", True),
        ("Zeta", True),
        ("alpha", True),
        ("ä", False),
        ("Яблоко", False),
        ("ёж", False),
    ]
    assert [key for key, _ in store.key_states(COLLECTION)] == sorted([*keys, ""])


def test_the_sqlite_resource_opens_a_store_in_a_new_folder(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite"
    with SqliteDocumentStoreResource(path=str(path)).open() as opened:
        assert opened.upsert(COLLECTION, [doc("a")]) == UpsertCounts(inserted=1)
    with SqliteDocumentStoreResource(path=str(path)).open() as reopened:
        assert reopened.count(COLLECTION) == 1
        assert [d.source_id for batch in reopened.pending(COLLECTION) for d in batch] == ["a"]


def upsert_range(path: str, start: int, stop: int) -> None:
    store = SqliteDocumentStore(path)
    try:
        for i in range(start, stop):
            store.upsert(COLLECTION, [doc(f"d{i:04d}")])
    finally:
        store.close()


def test_sqlite_store_takes_writers_from_several_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "documents.sqlite")
    run_in_processes(upsert_range, [(path, n * 200, (n + 1) * 200) for n in range(3)])

    store = SqliteDocumentStore(path)
    try:
        assert store.count(COLLECTION) == 600
        pending: list[PendingDocument] = [d for batch in store.pending(COLLECTION) for d in batch]
        assert [d.source_id for d in pending] == [f"d{i:04d}" for i in range(600)]
    finally:
        store.close()


def test_marking_records_the_checkpoint_of_each_collection(store: DocumentStore) -> None:
    assert store.checkpoint(COLLECTION) == {}
    store.upsert(COLLECTION, [doc("a"), doc("b")])
    (batch,) = store.pending(COLLECTION)

    store.mark_published(COLLECTION, [batch[0].version], {0: 5, 2: 1})
    assert pending_ids(store) == ["b"]
    assert store.checkpoint(COLLECTION) == {0: 5, 2: 1}
    store.mark_published(COLLECTION, [], {0: 7, 2: 1})
    assert store.checkpoint(COLLECTION) == {0: 7, 2: 1}
    assert pending_ids(store) == ["b"]
    assert store.checkpoint("products") == {}


def hold_lease(spec: tuple[str, ...], marker: Path, lease_seconds: float = LEASE_SECONDS) -> None:
    """Take the lease, say so, and keep it until killed."""
    store = open_store(spec, lease_seconds)
    with store.publish_lease(COLLECTION):
        marker.write_text("held")
        time.sleep(600)


def test_the_publish_lease_is_exclusive_and_dies_with_its_holder(store_spec: tuple[str, ...], tmp_path: Path) -> None:
    marker = tmp_path / "held"
    holder = multiprocessing.get_context("spawn").Process(target=hold_lease, args=(store_spec, marker))
    holder.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and holder.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()

    taken = threading.Event()

    def take() -> None:
        store = open_store(store_spec)
        try:
            with store.publish_lease(COLLECTION):
                taken.set()
        finally:
            store.close()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not taken.wait(LEASE_SECONDS * 1.5), "the lease was taken while its holder was alive"
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    assert taken.wait(LEASE_SECONDS * 3), "the lease outlived its dead holder"
    waiter.join()

    with closing(open_store(store_spec)) as first, closing(open_store(store_spec)) as second:
        with first.publish_lease("products"), second.publish_lease(COLLECTION):
            pass  # one collection's lease does not hold another's


def test_a_lease_whose_holder_died_on_this_host_is_taken_at_once(store_spec: tuple[str, ...], tmp_path: Path) -> None:
    """A run killed while publishing holds up the next one for no time, not for the lease's life."""
    long_lease = 120.0
    marker = tmp_path / "held"
    holder = multiprocessing.get_context("spawn").Process(target=hold_lease, args=(store_spec, marker, long_lease))
    holder.start()
    wait_for(lambda: marker.exists() or not holder.is_alive(), 60, "the lease to be held")
    assert holder.pid is not None and marker.exists()
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    started = time.monotonic()
    with closing(open_store(store_spec, long_lease)) as store, store.publish_lease(COLLECTION):
        taken_after = time.monotonic() - started
    assert taken_after < 5, f"the lease of a dead holder took {taken_after:.1f} s"


def test_generated_documents_keep_the_content_hash_earlier_versions_stored(tmp_path: Path) -> None:
    """The hash is what marks a document unchanged: had the serializer's switch changed it, the
    first run after an upgrade would publish every document again. Earlier versions hashed the
    standard library's canonical JSON; orjson must give the same bytes for real records, names
    and addresses in any script and control characters included."""
    generate(GeneratorConfig(purchases=300, format="jsonl"), tmp_path)
    bodies = [orjson.loads(line) for path in sorted(tmp_path.rglob("*.jsonl")) for line in path.read_bytes().splitlines()]
    bodies.append({"name": 'Zoë \u0001\t"\\ 東京 🍏', "price": [0.1, 12.5, 1e15, -0.0], "nested": {"b": None, "a": True}})
    earlier = [
        hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        for body in bodies
    ]
    assert len(bodies) > 300
    assert [content_hash(body) for body in bodies] == earlier
