"""The embedded document store: one SQLite file, shared by several processes at once.

All collections live in one table keyed by (collection, source_id), so collection names never
become SQL identifiers. A partial index over pending rows keeps paging through the outbox cheap
however many documents are already published. Marks and the checkpoint are written in one
transaction; the publish lease is a file lock beside the database, which dies with its holder.
Each shard has its own lease and checkpoint (`outbox_checkpoints.collection` is then the
collection's name with the shard's suffix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import orjson

from probablyfresh_dagster.documents import (
    DocumentVersion,
    PendingDocument,
    SourceDocument,
    UpsertCounts,
    batched,
    content_hash,
)
from probablyfresh_dagster.lock_waits import exclusive_file_lock
from probablyfresh_dagster.resources.sqlite import connect, write_transaction
from probablyfresh_dagster.shards import WHOLE, Shard, source_shard

UPSERT_BATCH_SIZE = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    source_id TEXT NOT NULL,
    natural_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    pending INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, source_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_key ON documents (collection, natural_key);
CREATE INDEX IF NOT EXISTS documents_pending ON documents (collection, source_id) WHERE pending = 1;
CREATE TABLE IF NOT EXISTS outbox_checkpoints (
    collection TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (collection, partition)
) WITHOUT ROWID;
"""


class SqliteDocumentStore:
    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._db = connect(path, SCHEMA)
        self._db.create_function("source_shard", 2, source_shard, deterministic=True)

    def upsert(self, collection: str, documents: Iterable[SourceDocument]) -> UpsertCounts:
        counts = UpsertCounts()
        for batch in batched(documents, UPSERT_BATCH_SIZE):
            # Hashed and serialized before the write lock, which other shards' loads wait for.
            prepared = [(document, content_hash(document.body), orjson.dumps(document.body)) for document in batch]
            with write_transaction(self._db):
                counts += self._upsert_batch(collection, prepared)
        return counts

    def _upsert_batch(self, collection: str, batch: list[tuple[SourceDocument, str, bytes]]) -> UpsertCounts:
        """`batch`: each document with its content hash and its body as stored (the source's key order)."""
        ids = sorted({document.source_id for document, _, _ in batch})
        known = dict(
            self._db.execute(
                "SELECT source_id, content_hash FROM documents"
                f" WHERE collection = ? AND source_id IN ({','.join('?' * len(ids))})",
                [collection, *ids],
            )
        )
        inserted = updated = unchanged = 0
        rows: dict[str, tuple[str, str, str, str, bytes]] = {}
        for document, new_hash, body in batch:
            old_hash = known.get(document.source_id)
            if old_hash == new_hash:
                unchanged += 1
                continue
            if old_hash is None:
                inserted += 1
            else:
                updated += 1
            known[document.source_id] = new_hash
            rows[document.source_id] = (collection, document.source_id, document.key, new_hash, body)
        self._db.executemany(
            "INSERT INTO documents"
            " (collection, source_id, natural_key, content_hash, pending, body)"
            " VALUES (?, ?, ?, ?, 1, ?)"
            " ON CONFLICT (collection, source_id) DO UPDATE SET natural_key = excluded.natural_key,"
            " content_hash = excluded.content_hash, pending = 1, body = excluded.body",
            rows.values(),
        )
        return UpsertCounts(inserted, updated, unchanged)

    def pending(self, collection: str, batch_size: int = 1000, shard: Shard = WHOLE) -> Iterator[list[PendingDocument]]:
        """Pages by source id, so the caller may mark each batch published while iterating; the
        shard's test runs on the pending index's source ids, before a body is read."""
        last_source_id = ""
        while True:
            rows = self._db.execute(
                "SELECT source_id, content_hash, body FROM documents"
                " WHERE collection = ? AND pending = 1 AND source_id > ? AND source_shard(source_id, ?) = ?"
                " ORDER BY source_id LIMIT ?",
                (collection, last_source_id, shard.count, shard.index, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [PendingDocument(sid, digest, orjson.loads(body)) for sid, digest, body in rows]
            if len(rows) < batch_size:
                return
            last_source_id = rows[-1][0]

    def mark_published(
        self, collection: str, versions: Iterable[DocumentVersion], checkpoint: dict[int, int], shard: Shard = WHOLE
    ) -> None:
        with write_transaction(self._db):
            self._db.executemany(
                "UPDATE documents SET pending = 0 WHERE collection = ? AND source_id = ? AND content_hash = ?",
                ((collection, source_id, digest) for source_id, digest in versions),
            )
            self._db.executemany(
                "INSERT INTO outbox_checkpoints (collection, partition, next_offset) VALUES (?, ?, ?)"
                " ON CONFLICT (collection, partition) DO UPDATE SET next_offset = excluded.next_offset",
                ((collection + shard.suffix, partition, offset) for partition, offset in checkpoint.items()),
            )

    def mark_pending(self, collection: str, versions: Iterable[DocumentVersion]) -> None:
        with write_transaction(self._db):
            self._db.executemany(
                "UPDATE documents SET pending = 1 WHERE collection = ? AND source_id = ? AND content_hash = ?",
                ((collection, source_id, digest) for source_id, digest in versions),
            )

    def checkpoint(self, collection: str, shard: Shard = WHOLE) -> dict[int, int]:
        return dict(
            self._db.execute(
                "SELECT partition, next_offset FROM outbox_checkpoints WHERE collection = ?",
                (collection + shard.suffix,),
            )
        )

    def publish_lease(self, collection: str, shard: Shard = WHOLE) -> AbstractContextManager[None]:
        lock = self._path.with_name(f"{self._path.name}.{collection}{shard.suffix}.publish.lock")
        return exclusive_file_lock(lock, f"the publish lease of {collection}{shard.suffix}")

    def count(self, collection: str) -> int:
        return self._scalar("SELECT COUNT(*) FROM documents WHERE collection = ?", collection)

    def pending_count(self, collection: str) -> int:
        return self._scalar("SELECT COUNT(*) FROM documents WHERE collection = ? AND pending = 1", collection)

    def unique_keys(self, collection: str) -> int:
        return self._scalar("SELECT COUNT(DISTINCT natural_key) FROM documents WHERE collection = ?", collection)

    def _scalar(self, sql: str, collection: str) -> int:
        return self._db.execute(sql, (collection,)).fetchone()[0]

    def known_source_ids(self, collection: str, source_ids: Sequence[str]) -> set[str]:
        rows = self._db.execute(
            f"SELECT source_id FROM documents WHERE collection = ? AND source_id IN ({','.join('?' * len(source_ids))})",
            [collection, *source_ids],
        )
        return {source_id for (source_id,) in rows}

    def key_states(self, collection: str, batch_size: int = 1000) -> Iterator[tuple[str, bool]]:
        """Pages seek on (collection, natural_key); the first one takes the empty key too."""
        after, last_key = ">=", ""
        while rows := self._db.execute(
            "SELECT natural_key, MAX(pending) FROM documents"
            f" WHERE collection = ? AND natural_key {after} ?"
            " GROUP BY natural_key ORDER BY natural_key LIMIT ?",
            (collection, last_key, batch_size),
        ).fetchall():
            yield from ((key, bool(pending)) for key, pending in rows)
            after, last_key = ">", rows[-1][0]

    def close(self) -> None:
        self._db.close()
