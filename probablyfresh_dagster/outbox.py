"""Each document version goes from MongoDB to Kafka exactly once, wherever a run dies.

Publishing a batch and marking it published are two systems, with no transaction spanning
both: a run killed between them has published versions that MongoDB still calls pending. So
Kafka is the record of what was published, and MongoDB only catches up with it:

1. Take the publish lease of the entity's shard (one publisher per shard at a time, across
   processes; dies with its holder) and fence the shard's transactional id: whatever a dead
   publisher left in an open Kafka transaction is aborted, and it can never commit anything again.
2. Recover: every message carries its document's source id and content hash in its headers.
   Read the topic from the shard's checkpoint (the offsets below which everything the shard
   published is marked) to its end, and mark the shard's versions found there published.
3. Publish what is still pending, one batch per Kafka transaction; after each commit, mark the
   batch and move the checkpoint past it.

A document `encode` refuses (`Invalid`: it would publish a phone or an email in clear) is withheld:
not published, left pending, and named in the result; the rest of its batch is published.

A kill before a commit leaves nothing visible (the batch is aborted by the next fence, and read
`read_committed` meanwhile); a kill after it leaves messages that step 2 of the next run finds.
Either way the version reaches Kafka once, and RAW, which resumes from its own offsets, once.
On the embedded log a batch is one SQLite transaction, which gives the same two outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from probablyfresh_dagster.documents import DocumentStore, DocumentVersion, PendingDocument
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.events import EventLog, Message, OutgoingMessage, next_offsets
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.schema import Invalid
from probablyfresh_dagster.shards import WHOLE, Shard

SOURCE_ID, VERSION = "source_id", "version"
"""The headers naming the document version a message publishes."""


@dataclass(frozen=True)
class Publication:
    published: int
    """Versions published by this run."""
    recovered: int
    """Versions found past the checkpoint: published by a run that died before recording it."""
    withheld: int = 0
    """Documents `encode` refused; they stay pending."""
    first_withheld: list[tuple[str, Invalid]] = field(default_factory=list)
    """The source id of the first `EXAMPLES_SHOWN` of them, and why."""

    def __add__(self, other: Publication) -> Publication:
        """Both publications (of two shards) as one."""
        return Publication(
            self.published + other.published,
            self.recovered + other.recovered,
            self.withheld + other.withheld,
            (self.first_withheld + other.first_withheld)[:EXAMPLES_SHOWN],
        )


PUBLISH_BATCH = 1000
"""Messages per Kafka transaction (and per `mark_published`)."""


def transactional_id(entity: Entity, shard: Shard = WHOLE) -> str:
    return f"probablyfresh-outbox-{entity.name}{shard.suffix}"


def publish_pending(
    entity: Entity,
    store: DocumentStore,
    log: EventLog,
    encode: Callable[[PendingDocument], bytes],
    batch_size: int = PUBLISH_BATCH,
    on_batch: Callable[[int], None] = lambda documents: None,
    shard: Shard = WHOLE,
) -> Publication:
    """Publish every pending version of the entity's documents in `shard` to its topic, as above,
    in transactions of `batch_size` messages; `on_batch` is told how many documents each batch
    handled (published or withheld)."""
    topic, producer = entity.name, transactional_id(entity, shard)
    withheld = 0
    first_withheld: list[tuple[str, Invalid]] = []
    with store.publish_lease(entity.name, shard):
        log.fence(producer)
        recovered, checkpoint = _recover(entity, store, log, batch_size, shard)
        published = 0
        for documents in store.pending(entity.name, batch_size, shard):
            messages, versions = [], []
            for document in documents:
                try:
                    value = encode(document)
                except Invalid as refused:
                    withheld += 1
                    if len(first_withheld) < EXAMPLES_SHOWN:
                        first_withheld.append((document.source_id, refused))
                    continue
                headers = ((SOURCE_ID, document.source_id), (VERSION, document.content_hash))
                messages.append(OutgoingMessage(key=document.body[entity.key], value=value, headers=headers))
                versions.append(document.version)
            if messages:
                checkpoint = checkpoint | log.publish(topic, messages, transactional_id=producer)
                store.mark_published(entity.name, versions, checkpoint, shard)
            published += len(messages)
            on_batch(len(documents))
    return Publication(published, recovered, withheld, first_withheld)


def _recover(entity: Entity, store: DocumentStore, log: EventLog, batch_size: int, shard: Shard) -> tuple[int, dict[int, int]]:
    """Mark the shard's versions found published past its checkpoint; return their number and the
    new checkpoint, the topic's end. Other shards' messages there are theirs to recover."""
    stored = store.checkpoint(entity.name, shard)
    end = log.end_offsets(entity.name)
    found, checkpoint = 0, stored
    for batch in log.read(entity.name, stored, end, batch_size):
        versions = [version for version in map(published_version, batch) if version and shard.owns_source(version.source_id)]
        checkpoint = checkpoint | next_offsets(batch)
        store.mark_published(entity.name, versions, checkpoint, shard)
        found += len(versions)
    if any(end[p] != checkpoint.get(p, 0) for p in end):  # transaction markers past the last batch
        store.mark_published(entity.name, [], end, shard)
    return found, end


def published_version(message: Message) -> DocumentVersion | None:
    """The version a message publishes; None for a message from another producer."""
    headers = dict(message.headers)
    if SOURCE_ID in headers and VERSION in headers:
        return DocumentVersion(headers[SOURCE_ID], headers[VERSION])
    return None
