"""The event log interface (Kafka in production, SQLite when embedded), its messages and what reads it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

Headers = tuple[tuple[str, str], ...]
"""Message headers as (name, text) pairs, in order (Kafka's are bytes: UTF-8 on the wire)."""


@dataclass(frozen=True)
class OutgoingMessage:
    key: str
    value: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: Headers = ()


class EventLog(Protocol):
    def ensure_topic(self, topic: str) -> None:
        """Create the topic with the configured partition count if it does not exist."""

    def fence(self, transactional_id: str) -> None:
        """Become the only publisher under `transactional_id`: whatever an earlier publisher with
        that id left uncommitted (a run killed mid-batch) is aborted and never becomes visible.

        Call it before reading what that publisher committed: no message can be added behind
        the reader's back afterwards.
        """

    def publish(self, topic: str, messages: Sequence[OutgoingMessage], transactional_id: str | None = None) -> dict[int, int]:
        """Append the messages (same key -> same partition) as one atomic batch: readers see all
        of them or, if the publisher dies first, none. Durable when it returns.

        Returns the offset after the last message written, for each partition written. With a
        `transactional_id`, `fence(transactional_id)` must have been called on this log first.
        """

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be read, per partition (0 for an empty partition). On Kafka this is the
        last stable offset, and offsets also number transaction markers: they count positions,
        not messages."""

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        """First offset still in the log, per partition: 0 until `delete_records` moves it."""

    def delete_records(self, topic: str, before: dict[int, int]) -> None:
        """Remove every message below `before[p]` from partition `p`, as Kafka's DeleteRecords does:
        its log start moves there, and its end offset stays where it was. Kafka cannot remove one
        message alone, so neither can this."""

    def committed(self, topic: str, group: str) -> dict[int, int]:
        """Next offset the group will read, per partition (0 where nothing was committed)."""

    def read(self, topic: str, start: dict[int, int], end: dict[int, int], batch_size: int = 1000) -> Iterator[list[Message]]:
        """Committed messages from `start` up to `end` (per partition; absent from `start`: from
        0, absent from `end`: not read), in batches of at most `batch_size`."""

    def commit(self, topic: str, group: str, offsets: dict[int, int]) -> None:
        """Record the next offset to read, per partition, for the group."""

    def tail(self, topic: str, limit: int) -> list[Message]:
        """Up to `limit` newest messages of each partition, without touching any group."""

    def close(self) -> None: ...


def consume(log: EventLog, topic: str, group: str, end: dict[int, int], batch_size: int = 1000) -> Iterator[list[Message]]:
    """The group's unread messages, from its committed offsets up to `end`. Never commits: the
    caller commits each batch once it has stored it, and `end` once it has stored them all
    (past the last message, `end` may also skip transaction markers)."""
    return log.read(topic, log.committed(topic, group), end, batch_size)


def lag(log: EventLog, topic: str, group: str) -> int:
    """Messages the group has not committed yet, over all partitions."""
    committed = log.committed(topic, group)
    return sum(end - committed.get(p, 0) for p, end in log.end_offsets(topic).items())


SAMPLE_WINDOWS = 10


@dataclass(frozen=True)
class Sample:
    messages: list[Message]
    positions: int
    """Offsets in the topic, over all partitions: its messages (and on Kafka its transaction markers)."""


def sample(log: EventLog, topic: str, limit: int, windows: int = SAMPLE_WINDOWS) -> Sample:
    """Up to `limit` messages spread over the whole topic, the same ones for the same topic: each
    partition's share of `limit` (by its size) is read in `windows` runs of consecutive offsets,
    evenly spaced from its first offset to its last. Runs, not single offsets: one fetch returns
    a whole record batch anyway, so a run costs a read of one offset."""
    ends, begins = log.end_offsets(topic), log.beginning_offsets(topic)
    sizes = {partition: end - begins.get(partition, 0) for partition, end in ends.items()}
    positions = sum(sizes.values())
    if positions <= limit:
        return Sample([m for batch in log.read(topic, begins, ends) for m in batch], positions)
    runs: list[dict[int, tuple[int, int]]] = [{} for _ in range(windows)]
    for partition, size in sizes.items():
        share, first = limit * size // positions, begins.get(partition, 0)
        spread = min(windows, share)
        for index in range(spread):
            start = first + size * index // spread
            runs[index][partition] = (start, min(first + size, start + share // spread + (index < share % spread)))
    messages = [
        message
        for run in runs
        if run
        for batch in log.read(topic, {p: s for p, (s, _) in run.items()}, {p: e for p, (_, e) in run.items()})
        for message in batch
    ]
    return Sample(messages, positions)


def next_offsets(messages: Sequence[Message]) -> dict[int, int]:
    """The offset after the last of `messages`, per partition they cover."""
    offsets: dict[int, int] = {}
    for message in messages:
        offsets[message.partition] = max(offsets.get(message.partition, 0), message.offset + 1)
    return offsets
