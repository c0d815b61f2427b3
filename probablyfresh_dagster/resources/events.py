"""The event log interface (Kafka in production, SQLite when embedded) and its resource."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import dagster as dg


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes


class EventLog(Protocol):
    def ensure_topic(self, topic: str) -> None:
        """Create the topic with the configured partition count if it does not exist."""

    def publish(self, topic: str, messages: Iterable[tuple[str, bytes]]) -> int:
        """Append keyed messages (same key -> same partition); durable when it returns."""

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition (0 for an empty partition)."""

    def committed(self, topic: str, group: str) -> dict[int, int]:
        """Next offset the group will read, per partition (0 where nothing was committed)."""

    def consume(self, topic: str, group: str, batch_size: int = 1000) -> Iterator[list[Message]]:
        """Messages from the group's committed offsets up to the end offsets seen at the start.

        Never commits: the caller commits after it has stored a batch.
        """

    def commit(self, topic: str, group: str, offsets: dict[int, int]) -> None:
        """Record the next offset to read, per partition, for the group."""

    def tail(self, topic: str, limit: int) -> list[Message]:
        """Up to `limit` newest messages of each partition, without touching any group."""

    def close(self) -> None: ...


def lag(log: EventLog, topic: str, group: str) -> int:
    """Messages the group has not committed yet, over all partitions."""
    committed = log.committed(topic, group)
    return sum(end - committed.get(p, 0) for p, end in log.end_offsets(topic).items())


class KafkaResource(dg.ConfigurableResource):
    """Kafka through kafka-python (`kafka://host:9092[,host:9092]`), or the embedded SQLite log."""

    url: str
    partitions: int = 1

    @contextmanager
    def open(self) -> Iterator[EventLog]:
        if self.url.startswith("sqlite:///"):
            from probablyfresh_dagster.resources.sqlite_events import SqliteEventLog

            log: EventLog = SqliteEventLog(self.url.removeprefix("sqlite:///"), self.partitions)
        else:
            from probablyfresh_dagster.resources.kafka_events import KafkaEventLog

            log = KafkaEventLog(self.url.removeprefix("kafka://"), self.partitions)
        try:
            yield log
        finally:
            log.close()
