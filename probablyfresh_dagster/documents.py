"""The document store interface (MongoDB in production, SQLite when embedded) and its data types.

Each source file becomes one document, upserted by its source id (the file stem), with the
natural key indexed beside it. Two files carrying the same natural key are two documents: that
is a business duplicate coming from the source, and the platform must carry it to RAW so the
duplicate share can measure it. A document whose content changed since it was last published
is *pending*; the Kafka asset publishes pending documents and marks them published, so a re-run
with unchanged files publishes nothing (an outbox, not a snapshot dump). How that stays exactly
once when a run dies half-way is `outbox.py`'s story; the store keeps its two pieces of state: an
exclusive publish lease per collection and shard, and the checkpoint of the topic it has reconciled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson

from probablyfresh_dagster.shards import WHOLE, Shard

T = TypeVar("T")
RESERVED_FIELDS = ("_id", "_key", "_hash", "_pending")
"""Top-level fields MongoDB's stored form adds to a body; a source document must not use them."""


@dataclass(frozen=True)
class SourceDocument:
    source_id: str
    key: str
    body: dict[str, Any]


class DocumentVersion(NamedTuple):
    source_id: str
    content_hash: str


@dataclass(frozen=True)
class PendingDocument:
    source_id: str
    content_hash: str
    body: dict[str, Any]

    @property
    def version(self) -> DocumentVersion:
        return DocumentVersion(self.source_id, self.content_hash)


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def content_hash(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (keys sorted, compact, UTF-8), so key order and whitespace
    never make a change. orjson writes the bytes the standard library's `json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` wrote before it, except floats below 1e-4 or from
    1e16 up, written without the exponent's "+" and leading zeros: only such documents hash anew."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class DocumentStore(Protocol):
    def upsert(self, collection: str, documents: Iterable[SourceDocument]) -> UpsertCounts:
        """Insert new source ids, replace changed ones (marking them pending), skip unchanged."""

    def pending(self, collection: str, batch_size: int = 1000, shard: Shard = WHOLE) -> Iterator[list[PendingDocument]]:
        """The documents of `shard` not yet published in their current version, in source-id
        order, batched."""

    def mark_published(
        self, collection: str, versions: Iterable[DocumentVersion], checkpoint: dict[int, int], shard: Shard = WHOLE
    ) -> None:
        """Clear the pending flag of these versions (a document changed since stays pending), then
        record `checkpoint` of `shard`: the topic offsets below which every version the shard
        published is marked."""

    def mark_pending(self, collection: str, versions: Iterable[DocumentVersion]) -> None:
        """Make these versions pending again, where still current (a document changed since is left
        as it is): their message was removed from the log, so the next publish sends them anew."""

    def checkpoint(self, collection: str, shard: Shard = WHOLE) -> dict[int, int]:
        """The shard's last checkpoint recorded by `mark_published` (empty before the first)."""

    def publish_lease(self, collection: str, shard: Shard = WHOLE) -> AbstractContextManager[None]:
        """Held while publishing the collection's `shard`: one publisher per shard at a time,
        across processes and hosts; a holder that dies gives it up (see each implementation for
        how fast)."""

    def count(self, collection: str) -> int: ...

    def pending_count(self, collection: str) -> int:
        """How many documents `pending` would give now (an index count, not a read of them)."""

    def unique_keys(self, collection: str) -> int: ...

    def close(self) -> None: ...

    # Reconciliation (counts_reconcile names the keys behind a mismatch): streams and batched
    # lookups, so memory stays flat however many documents there are.

    def known_source_ids(self, collection: str, source_ids: Sequence[str]) -> set[str]:
        """Those of `source_ids` (a batch) that have a document."""

    def key_states(self, collection: str, batch_size: int = 1000) -> Iterator[tuple[str, bool]]:
        """Every natural key in key order (code points, as ClickHouse and SQLite sort UTF-8),
        with whether one of its documents is pending (not yet published)."""
