"""The document store on MongoDB (or FerretDB v1) through pymongo.

A stored document is the body's fields at top level plus `_id` (the source id), `_key` (the
natural key), `_hash` (the content hash) and `_pending`. Only plain finds, bulk writes and a
`$group`/`$count` aggregation are used: FerretDB v1 has no transactions and no `$lookup`. The
outbox checkpoints and publish leases live in their own collections, one document per collection
and shard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from itertools import groupby
from typing import Any

from pymongo import ASCENDING, MongoClient, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from probablyfresh_dagster.documents import (
    RESERVED_FIELDS,
    DocumentVersion,
    PendingDocument,
    SourceDocument,
    UpsertCounts,
    batched,
    content_hash,
)
from probablyfresh_dagster.resources.mongo_lease import mongo_lease
from probablyfresh_dagster.shards import WHOLE, Shard
from probablyfresh_dagster.transient import retrying

UPSERT_BATCH_SIZE = 1000
# FerretDB v1 holds one backend connection per matched update statement until the whole command
# ends, and hangs once they exceed its pool (100 on SQLite, 50 on PostgreSQL): one `update`
# command replacing 100 existing documents never returns. Small commands stay far below that,
# even with several writers at once.
WRITES_PER_COMMAND = 10
CHECKPOINTS = "_outbox_checkpoints"
BODY = {"_key": 0, "_pending": 0}
"""The projection of a pending document: its body, `_id` and `_hash`."""
LEASES = "_outbox_leases"


def without_credentials(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


class MongoDocumentStore:
    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_ms: int = 5000,
        lease_seconds: float = 30.0,
    ) -> None:
        self._lease_seconds = lease_seconds
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            url, username=username, password=password, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
        )
        try:
            retrying(f"MongoDB at {without_credentials(url)}", lambda: self._client.admin.command("ping"))
        except PyMongoError as error:
            self._client.close()
            raise ConnectionError(f"MongoDB at {without_credentials(url)} is not reachable: {error}") from error
        self._database = self._client[database]
        self._indexed: set[str] = set()

    def _collection(self, name: str) -> Collection[dict[str, Any]]:
        collection = self._database[name]
        if name not in self._indexed:
            collection.create_index([("_key", ASCENDING)])
            collection.create_index([("_pending", ASCENDING)])
            self._indexed.add(name)
        return collection

    def upsert(self, collection: str, documents: Iterable[SourceDocument]) -> UpsertCounts:
        target = self._collection(collection)
        counts = UpsertCounts()
        for batch in batched(documents, UPSERT_BATCH_SIZE):
            counts += self._upsert_batch(target, batch)
        return counts

    def _upsert_batch(self, target: Collection[dict[str, Any]], batch: list[SourceDocument]) -> UpsertCounts:
        ids = list({document.source_id for document in batch})
        known = {stored["_id"]: stored.get("_hash") for stored in target.find({"_id": {"$in": ids}}, {"_hash": 1})}
        inserted = updated = unchanged = 0
        writes: dict[str, ReplaceOne[dict[str, Any]]] = {}
        for document in batch:
            new_hash = content_hash(document.body)
            old_hash = known.get(document.source_id)
            if old_hash == new_hash:
                unchanged += 1
                continue
            if document.source_id in known:
                updated += 1
            else:
                inserted += 1
            known[document.source_id] = new_hash
            writes[document.source_id] = ReplaceOne(
                {"_id": document.source_id},
                self._stored_form(document, new_hash),
                upsert=True,
            )
        for command in batched(writes.values(), WRITES_PER_COMMAND):
            target.bulk_write(command, ordered=False)
        return UpsertCounts(inserted, updated, unchanged)

    @staticmethod
    def _stored_form(document: SourceDocument, digest: str) -> dict[str, Any]:
        clashes = [field for field in RESERVED_FIELDS if field in document.body]
        if clashes:
            raise ValueError(f"document {document.source_id!r} uses reserved field(s) {clashes}")
        return {
            **document.body,
            "_id": document.source_id,
            "_key": document.key,
            "_hash": digest,
            "_pending": True,
        }

    def pending(self, collection: str, batch_size: int = 1000, shard: Shard = WHOLE) -> Iterator[list[PendingDocument]]:
        """Pages by `_id`, so the caller may mark each batch published while iterating. For one of
        several shards, a page holds the pending ids only, and the shard's own are then read whole."""
        target = self._collection(collection)
        query: dict[str, Any] = {"_pending": True}
        while page := list(target.find(query, BODY if shard == WHOLE else {"_id": 1}).sort("_id", ASCENDING).limit(batch_size)):
            owned = page
            if shard != WHOLE:
                ids = [document["_id"] for document in page if shard.owns_source(document["_id"])]
                owned = list(target.find({"_id": {"$in": ids}, "_pending": True}, BODY).sort("_id", ASCENDING)) if ids else []
            if owned:
                yield [
                    PendingDocument(
                        document["_id"], document["_hash"], {k: v for k, v in document.items() if k not in RESERVED_FIELDS}
                    )
                    for document in owned
                ]
            if len(page) < batch_size:
                return
            query = {"_pending": True, "_id": {"$gt": page[-1]["_id"]}}

    def mark_published(
        self, collection: str, versions: Iterable[DocumentVersion], checkpoint: dict[int, int], shard: Shard = WHOLE
    ) -> None:
        """Marks first, checkpoint second (no transactions): a crash in between only makes the
        next recovery scan mark the same versions again."""
        self._set_pending(collection, versions, False)
        self._database[CHECKPOINTS].update_one(
            {"_id": collection + shard.suffix},
            {"$set": {"offsets": {str(partition): offset for partition, offset in checkpoint.items()}}},
            upsert=True,
        )

    def mark_pending(self, collection: str, versions: Iterable[DocumentVersion]) -> None:
        self._set_pending(collection, versions, True)

    def _set_pending(self, collection: str, versions: Iterable[DocumentVersion], pending: bool) -> None:
        target = self._collection(collection)
        for batch in batched(versions, WRITES_PER_COMMAND):
            target.bulk_write(
                [UpdateOne({"_id": source_id, "_hash": digest}, {"$set": {"_pending": pending}}) for source_id, digest in batch],
                ordered=False,
            )

    def checkpoint(self, collection: str, shard: Shard = WHOLE) -> dict[int, int]:
        stored = self._database[CHECKPOINTS].find_one({"_id": collection + shard.suffix}) or {}
        return {int(partition): offset for partition, offset in stored.get("offsets", {}).items()}

    def publish_lease(self, collection: str, shard: Shard = WHOLE) -> AbstractContextManager[None]:
        name = collection + shard.suffix
        return mongo_lease(self._database[LEASES], name, f"the publish lease of {name}", self._lease_seconds)

    def count(self, collection: str) -> int:
        return self._collection(collection).count_documents({})

    def pending_count(self, collection: str) -> int:
        return self._collection(collection).count_documents({"_pending": True})

    def unique_keys(self, collection: str) -> int:
        """An aggregation, not `distinct`, whose answer is one document capped at 16 MB."""
        counted = list(self._collection(collection).aggregate([{"$group": {"_id": "$_key"}}, {"$count": "keys"}]))
        return counted[0]["keys"] if counted else 0

    def known_source_ids(self, collection: str, source_ids: Sequence[str]) -> set[str]:
        found = self._collection(collection).find({"_id": {"$in": list(source_ids)}}, {"_id": 1})
        return {document["_id"] for document in found}

    def key_states(self, collection: str, batch_size: int = 1000) -> Iterator[tuple[str, bool]]:
        """A plain find sorted on the indexed `_key`, grouped here one key at a time."""
        cursor = self._collection(collection).find({}, {"_key": 1, "_pending": 1}).sort("_key", ASCENDING)
        for key, documents in groupby(cursor.batch_size(batch_size), key=lambda document: document["_key"]):
            yield key, any(document["_pending"] for document in documents)

    def close(self) -> None:
        self._client.close()
