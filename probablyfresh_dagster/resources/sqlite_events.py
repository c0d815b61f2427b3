"""The embedded event log: an append-only, partitioned log in one SQLite file.

Several processes publish and consume at once; a publish takes SQLite's write lock before it
reads the partitions' end offsets, so offsets stay unique and gapless across processes.

A message's partition is `zlib.crc32(key as UTF-8) % partitions`: stable across processes and
Python runs (unlike `hash()`), but not Kafka's murmur2, so the same key may land on a different
partition number here than on a real broker. Only "same key, same partition" is promised.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator, Sequence

import orjson

from probablyfresh_dagster.events import Headers, Message, OutgoingMessage
from probablyfresh_dagster.resources.sqlite import connect, write_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL DEFAULT '[]',
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_starts (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic, partition)
) WITHOUT ROWID;
"""


def partition_for(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % partitions


def _headers(text: str) -> Headers:
    return tuple((name, value) for name, value in orjson.loads(text))


class SqliteEventLog:
    def __init__(self, path: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        self._partitions = partitions
        self._db = connect(path, SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "headers" not in columns:  # a log written before messages had headers
            self._db.execute("ALTER TABLE messages ADD COLUMN headers TEXT NOT NULL DEFAULT '[]'")

    def ensure_topic(self, topic: str) -> None:
        """Idempotent; an existing topic keeps the partition count it was created with."""
        with write_transaction(self._db):
            self._db.execute(
                "INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)",
                (topic, self._partitions),
            )

    def _partition_count(self, topic: str) -> int:
        row = self._db.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            raise LookupError(f"topic {topic!r} does not exist in the event log (ensure_topic first)")
        return row[0]

    def fence(self, transactional_id: str) -> None:
        """Nothing to do: a batch is one SQLite transaction, which a dead publisher never committed."""

    def publish(self, topic: str, messages: Sequence[OutgoingMessage], transactional_id: str | None = None) -> dict[int, int]:
        written: dict[int, int] = {}
        with write_transaction(self._db):
            partitions = self._partition_count(topic)
            next_offsets = self.end_offsets(topic)
            timestamp_ms = int(time.time() * 1000)
            rows = []
            for message in messages:
                partition = partition_for(message.key, partitions)
                offset = next_offsets[partition]
                headers = orjson.dumps(message.headers).decode()
                rows.append((topic, partition, offset, message.key, message.value, headers, timestamp_ms))
                next_offsets[partition] = written[partition] = offset + 1
            self._db.executemany(
                "INSERT INTO messages (topic, partition, offset, key, value, headers, timestamp_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return written

    def end_offsets(self, topic: str) -> dict[int, int]:
        """One primary-key seek per partition (a GROUP BY over the topic would scan it). A partition
        whose messages were all deleted ends where its log starts."""
        starts = self._log_starts(topic)
        offsets = {}
        for partition in range(self._partition_count(topic)):
            (last,) = self._db.execute(
                "SELECT MAX(offset) FROM messages WHERE topic = ? AND partition = ?", (topic, partition)
            ).fetchone()
            offsets[partition] = starts.get(partition, 0) if last is None else last + 1
        return offsets

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        starts = self._log_starts(topic)
        offsets = {}
        for partition in range(self._partition_count(topic)):
            (first,) = self._db.execute(
                "SELECT MIN(offset) FROM messages WHERE topic = ? AND partition = ?", (topic, partition)
            ).fetchone()
            offsets[partition] = starts.get(partition, 0) if first is None else first
        return offsets

    def delete_records(self, topic: str, before: dict[int, int]) -> None:
        with write_transaction(self._db):
            ends = self.end_offsets(topic)
            for partition, offset in before.items():
                if offset > ends[partition]:
                    raise ValueError(f"{topic}[{partition}] ends at {ends[partition]}: nothing to delete up to {offset}")
                self._db.execute(
                    "DELETE FROM messages WHERE topic = ? AND partition = ? AND offset < ?", (topic, partition, offset)
                )
                self._db.execute(
                    "INSERT INTO log_starts (topic, partition, start_offset) VALUES (?, ?, ?)"
                    " ON CONFLICT (topic, partition) DO UPDATE SET start_offset = MAX(start_offset, excluded.start_offset)",
                    (topic, partition, offset),
                )

    def _log_starts(self, topic: str) -> dict[int, int]:
        return dict(self._db.execute("SELECT partition, start_offset FROM log_starts WHERE topic = ?", (topic,)))

    def committed(self, topic: str, group: str) -> dict[int, int]:
        offsets = dict.fromkeys(range(self._partition_count(topic)), 0)
        offsets.update(
            self._db.execute(
                "SELECT partition, next_offset FROM group_offsets WHERE group_name = ? AND topic = ?",
                (group, topic),
            )
        )
        return offsets

    def read(self, topic: str, start: dict[int, int], end: dict[int, int], batch_size: int = 1000) -> Iterator[list[Message]]:
        """Batches in (partition, offset) order; a batch may span partitions."""
        self._partition_count(topic)
        batch: list[Message] = []
        for partition, stop in sorted(end.items()):
            offset = start.get(partition, 0)
            while offset < stop:
                rows = self._db.execute(
                    "SELECT offset, key, value, headers FROM messages"
                    " WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ?"
                    " ORDER BY offset LIMIT ?",
                    (topic, partition, offset, stop, batch_size - len(batch)),
                ).fetchall()
                if not rows:  # `end` beyond the partition's end
                    break
                batch.extend(Message(topic, partition, o, k, v, _headers(h)) for o, k, v, h in rows)
                offset = rows[-1][0] + 1
                if len(batch) == batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def commit(self, topic: str, group: str, offsets: dict[int, int]) -> None:
        with write_transaction(self._db):
            self._db.executemany(
                "INSERT INTO group_offsets (group_name, topic, partition, next_offset)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (group_name, topic, partition)"
                " DO UPDATE SET next_offset = excluded.next_offset",
                ((group, topic, partition, offset) for partition, offset in offsets.items()),
            )

    def tail(self, topic: str, limit: int) -> list[Message]:
        newest: list[Message] = []
        for partition in range(self._partition_count(topic)):
            rows = self._db.execute(
                "SELECT offset, key, value, headers FROM messages WHERE topic = ? AND partition = ? ORDER BY offset DESC LIMIT ?",
                (topic, partition, max(limit, 0)),
            ).fetchall()
            newest.extend(Message(topic, partition, o, k, v, _headers(h)) for o, k, v, h in reversed(rows))
        return newest

    def close(self) -> None:
        self._db.close()
