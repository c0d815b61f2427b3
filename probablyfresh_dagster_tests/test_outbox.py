"""The outbox publishes each document version once, on the embedded backends and on real Kafka
with FerretDB: after a failure between publishing and marking, and with two publishers at once."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from probablyfresh_dagster.documents import DocumentStore, PendingDocument, SourceDocument
from probablyfresh_dagster.entities import STORES, Entity
from probablyfresh_dagster.events import Message
from probablyfresh_dagster.outbox import SOURCE_ID, VERSION, Publication, publish_pending
from probablyfresh_dagster.resources.documents import (
    DocumentStoreResource,
    MongoDocumentStoreResource,
    SqliteDocumentStoreResource,
)
from probablyfresh_dagster.resources.events import EventLogResource, KafkaEventLogResource, SqliteEventLogResource
from probablyfresh_dagster.shards import WHOLE, Shard

BATCH = 50


@dataclass(frozen=True)
class Outbox:
    """An entity of its own (so real servers shared by the session see a fresh topic) and the
    backends to publish it with; plain values (each backend's resource class and settings: resources
    do not pickle), so that a spawned process can rebuild it."""

    entity: Entity
    store: tuple[type[DocumentStoreResource], dict[str, Any]]
    log: tuple[type[EventLogResource], dict[str, Any]]
    documents: int
    """Enough batches for two publishers to overlap; few on FerretDB (its SQLite backend takes
    about 10 ms per update)."""

    def mongo(self) -> DocumentStoreResource:
        kind, settings = self.store
        return kind(**settings)

    def kafka(self) -> EventLogResource:
        kind, settings = self.log
        return kind(**settings, partitions=3)

    def publish(self, shard: Shard = WHOLE) -> Publication:
        with self.mongo().open() as store, self.kafka().open() as log:
            log.ensure_topic(self.entity.name)
            return publish_pending(self.entity, store, log, encode, BATCH, shard=shard)

    def messages(self) -> list[Message]:
        with self.kafka().open() as log:
            return [m for batch in log.read(self.entity.name, {}, log.end_offsets(self.entity.name)) for m in batch]


@pytest.fixture(params=["embedded", pytest.param("servers", marks=pytest.mark.servers)])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Outbox:
    entity = replace(STORES, name=f"outbox_{uuid.uuid4().hex[:8]}")
    if request.param == "embedded":
        return Outbox(
            entity,
            (SqliteDocumentStoreResource, {"path": str(tmp_path / "mongo.sqlite3")}),
            (SqliteEventLogResource, {"path": str(tmp_path / "kafka.sqlite3")}),
            2000,
        )
    return Outbox(
        entity,
        (
            MongoDocumentStoreResource,
            {"url": f"mongodb://127.0.0.1:{request.getfixturevalue('ferretdb_port')}", "database": entity.name},
        ),
        (KafkaEventLogResource, {"bootstrap_servers": f"127.0.0.1:{request.getfixturevalue('kafka_port')}"}),
        120,
    )


def encode(document: PendingDocument) -> bytes:
    return f"{document.body['store_id']}@{document.body['version']}".encode()


def load(outbox: Outbox, count: int, version: int = 1) -> None:
    with outbox.mongo().open() as store:
        store.upsert(
            outbox.entity.name,
            (
                SourceDocument(f"s{i:05d}", f"store-{i:05d}", {"store_id": f"store-{i:05d}", "version": version})
                for i in range(count)
            ),
        )


def published_versions(outbox: Outbox) -> Counter:
    """How often each (source id, content hash) was published."""
    return Counter((dict(m.headers)[SOURCE_ID], dict(m.headers)[VERSION]) for m in outbox.messages())


class MarkingFails:
    """A real store whose `mark_published` fails after `succeed` calls, as a run killed between a
    Kafka commit and the MongoDB update would leave it (the crash tests kill real processes)."""

    def __init__(self, store: DocumentStore, succeed: int) -> None:
        self._store, self._left = store, succeed

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def mark_published(self, *args) -> None:
        if self._left == 0:
            raise ConnectionError("MongoDB went away")
        self._left -= 1
        self._store.mark_published(*args)


def test_every_pending_version_is_published_once_with_its_origin_in_the_headers(outbox: Outbox) -> None:
    load(outbox, outbox.documents)
    assert outbox.publish() == Publication(published=outbox.documents, recovered=0)
    assert outbox.publish() == Publication(published=0, recovered=0)

    load(outbox, 10, version=2)
    assert outbox.publish() == Publication(published=10, recovered=0)
    versions = published_versions(outbox)
    assert len(versions) == outbox.documents + 10 and set(versions.values()) == {1}
    messages = outbox.messages()
    assert {m.key for m in messages} == {f"store-{i:05d}" for i in range(outbox.documents)}
    assert sum(m.value.endswith(b"@2") for m in messages) == 10


@pytest.mark.parametrize("marks_before_failure", [0, 1, 2])
def test_versions_published_but_not_marked_are_recovered_not_republished(outbox: Outbox, marks_before_failure: int) -> None:
    load(outbox, outbox.documents)
    with outbox.mongo().open() as store, outbox.kafka().open() as log:
        log.ensure_topic(outbox.entity.name)
        with pytest.raises(ConnectionError):
            publish_pending(outbox.entity, MarkingFails(store, marks_before_failure), log, encode, BATCH)
    first_batch = len(outbox.messages())
    assert first_batch > 0

    rerun = outbox.publish()
    assert rerun.recovered >= 1 and rerun.published + first_batch == outbox.documents
    versions = published_versions(outbox)
    assert len(versions) == outbox.documents and set(versions.values()) == {1}
    assert outbox.publish() == Publication(published=0, recovered=0)


def publish_when_told(outbox: Outbox, ready: Path, go: Path, shard: Shard = WHOLE) -> None:
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    outbox.publish(shard)


@pytest.mark.parametrize("shards", [[WHOLE, WHOLE], Shard.all(2)], ids=["same shard", "two shards"])
def test_two_publishers_at_once_publish_each_version_once(outbox: Outbox, tmp_path: Path, shards: list[Shard]) -> None:
    """Two publishers of one shard take turns under its lease; two shards publish side by side."""
    load(outbox, outbox.documents)
    go, ready = tmp_path / "go", [tmp_path / f"ready-{n}" for n in (1, 2)]
    context = multiprocessing.get_context("spawn")
    publishers = [
        context.Process(target=publish_when_told, args=(outbox, flag, go, shard))
        for flag, shard in zip(ready, shards, strict=True)
    ]
    for publisher in publishers:
        publisher.start()
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start publishing the same pending versions at the same moment
    for publisher in publishers:
        publisher.join(timeout=120)
    assert [publisher.exitcode for publisher in publishers] == [0, 0]
    versions = published_versions(outbox)
    assert len(versions) == outbox.documents and set(versions.values()) == {1}


def test_a_shard_recovers_what_it_published_past_another_shards_checkpoint(outbox: Outbox) -> None:
    """Shard 0 publishes a batch and dies before marking it; shard 1 then publishes everything past
    it. Shard 0's next run finds its batch from its own checkpoint: each version once (a shared
    checkpoint would have moved past the batch, and shard 0 would publish it again)."""
    first, second = Shard.all(2)
    load(outbox, outbox.documents)
    with outbox.mongo().open() as store, outbox.kafka().open() as log:
        log.ensure_topic(outbox.entity.name)
        with pytest.raises(ConnectionError):
            publish_pending(outbox.entity, MarkingFails(store, 0), log, encode, BATCH, shard=first)
    died_with = len(outbox.messages())
    assert died_with > 0

    other = outbox.publish(second)
    assert other.recovered == 0 and other.published > 0
    rerun = outbox.publish(first)
    assert rerun.recovered == died_with
    assert rerun.published + rerun.recovered + other.published == outbox.documents
    versions = published_versions(outbox)
    assert len(versions) == outbox.documents and set(versions.values()) == {1}
    assert {shard for shard in Shard.all(2) for source, _ in versions if shard.owns_source(source)} == {first, second}
    assert outbox.publish(first) == outbox.publish(second) == Publication(published=0, recovered=0)
