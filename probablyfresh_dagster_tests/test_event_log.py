"""Contract tests of the event log, run against every backend in LOGS.

The embedded SQLite log, and Apache Kafka (started once per session on loopback): every test
uses its own topic and group names, and the multi-process test opens the log from its resource's
class and settings in each process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from probablyfresh_dagster.events import EventLog, Message, OutgoingMessage, consume, lag, next_offsets, sample
from probablyfresh_dagster.resources.events import EventLogResource, KafkaEventLogResource, SqliteEventLogResource

from .servers import backend_params
from .support import run_in_processes

PARTITIONS = 3
LOGS: dict[str, Callable[[pytest.FixtureRequest, Path], EventLogResource]] = {
    "sqlite": lambda request, tmp_path: SqliteEventLogResource(path=str(tmp_path / "events.sqlite"), partitions=PARTITIONS),
    "kafka": lambda request, tmp_path: KafkaEventLogResource(
        bootstrap_servers=f"127.0.0.1:{request.getfixturevalue('kafka_port')}", partitions=PARTITIONS
    ),
}
Portable = tuple[type[EventLogResource], dict[str, Any]]
"""A resource's class and settings: resources do not pickle, so a spawned process rebuilds one."""


@pytest.fixture(params=backend_params(LOGS))
def log_resource(request: pytest.FixtureRequest, tmp_path: Path) -> EventLogResource:
    return LOGS[request.param](request, tmp_path)


@pytest.fixture
def log(log_resource: EventLogResource) -> Iterator[EventLog]:
    with log_resource.open() as opened:
        yield opened


def portable(resource: EventLogResource) -> Portable:
    return type(resource), resource.model_dump()


@pytest.fixture
def topic(log: EventLog) -> str:
    name = f"events-{uuid.uuid4().hex[:8]}"
    log.ensure_topic(name)
    return name


@pytest.fixture
def group() -> str:
    return f"group-{uuid.uuid4().hex[:8]}"


def consume_all(log: EventLog, topic: str, group: str, batch_size: int = 1000) -> list[Message]:
    return [m for batch in consume(log, topic, group, log.end_offsets(topic), batch_size) for m in batch]


def publish(log: EventLog, topic: str, messages: list[tuple[str, bytes]], **options) -> dict[int, int]:
    return log.publish(topic, [OutgoingMessage(key, value) for key, value in messages], **options)


def by_position(message: Message) -> tuple[int, int]:
    return message.partition, message.offset


def keyed(count: int, prefix: str = "key") -> list[tuple[str, bytes]]:
    return [(f"{prefix}-{i}", f"value-{i}".encode()) for i in range(count)]


def test_publish_then_consume_returns_every_message_in_partition_order(log: EventLog, topic: str, group: str) -> None:
    written = publish(log, topic, keyed(20))

    messages = consume_all(log, topic, group, batch_size=7)
    assert written == next_offsets(messages)
    assert sorted((m.key, m.value) for m in messages) == sorted(keyed(20))
    assert all(m.topic == topic for m in messages)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in messages:
        by_partition[m.partition].append(m.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))


def test_consume_yields_batches_no_larger_than_asked(log: EventLog, topic: str, group: str) -> None:
    publish(log, topic, keyed(20))
    sizes = [len(batch) for batch in consume(log, topic, group, log.end_offsets(topic), batch_size=6)]
    assert sum(sizes) == 20
    assert max(sizes) <= 6
    assert len(sizes) >= 4


def test_end_offsets_are_last_offset_plus_one(log: EventLog, topic: str, group: str) -> None:
    assert log.end_offsets(topic) == dict.fromkeys(range(PARTITIONS), 0)

    publish(log, topic, [("same", b"1"), ("same", b"2"), ("same", b"3")])
    (partition,) = {m.partition for m in consume_all(log, topic, group)}
    expected = dict.fromkeys(range(PARTITIONS), 0) | {partition: 3}
    assert log.end_offsets(topic) == expected

    publish(log, topic, keyed(10))
    everything = consume_all(log, topic, group)
    assert log.end_offsets(topic) == dict.fromkeys(range(PARTITIONS), 0) | next_offsets(everything)


def test_committed_starts_at_zero_and_lag_counts_what_is_not_committed(log: EventLog, topic: str, group: str) -> None:
    assert log.committed(topic, group) == dict.fromkeys(range(PARTITIONS), 0)
    publish(log, topic, keyed(12))
    assert lag(log, topic, group) == 12

    first = next(iter(consume(log, topic, group, log.end_offsets(topic), batch_size=5)))
    log.commit(topic, group, next_offsets(first))
    assert lag(log, topic, group) == 7
    assert log.committed(topic, group) == dict.fromkeys(range(PARTITIONS), 0) | next_offsets(first)

    log.commit(topic, group, log.end_offsets(topic))
    assert lag(log, topic, group) == 0
    assert consume_all(log, topic, group) == []
    assert lag(log, topic, f"other-{group}") == 12


def test_uncommitted_batch_is_delivered_again(log_resource: EventLogResource, log: EventLog, topic: str, group: str) -> None:
    publish(log, topic, keyed(10))
    crashed = next(iter(consume(log, topic, group, log.end_offsets(topic), batch_size=4)))
    assert len(crashed) == 4

    with log_resource.open() as restarted:
        retried = consume_all(restarted, topic, group)
        assert set(crashed) <= set(retried)
        assert len(retried) == 10
        restarted.commit(topic, group, next_offsets(crashed))

    after_commit = consume_all(log, topic, group)
    assert len(after_commit) == 6
    assert set(after_commit).isdisjoint(crashed)


def test_a_key_always_lands_on_the_same_partition(log_resource: EventLogResource, log: EventLog, topic: str, group: str) -> None:
    keys = [f"customer-{i}" for i in range(30)]
    publish(log, topic, [(key, b"first") for key in keys])
    with log_resource.open() as reopened:
        publish(reopened, topic, [(key, b"second") for key in reversed(keys)])

    partitions_by_key: dict[str, set[int]] = defaultdict(set)
    for message in consume_all(log, topic, group):
        partitions_by_key[message.key].add(message.partition)
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    assert len(partitions_by_key) == 30
    assert len(set().union(*partitions_by_key.values())) > 1


def test_consume_stops_at_the_end_seen_when_it_started(log: EventLog, topic: str, group: str) -> None:
    publish(log, topic, keyed(6, prefix="before"))
    batches = consume(log, topic, group, log.end_offsets(topic), batch_size=2)
    first = next(batches)
    publish(log, topic, keyed(6, prefix="during"))
    consumed = first + [m for batch in batches for m in batch]

    assert sorted(m.key for m in consumed) == sorted(key for key, _ in keyed(6, prefix="before"))
    assert len(consume_all(log, topic, group)) == 12


def test_tail_returns_the_newest_messages_of_each_partition(log: EventLog, topic: str, group: str) -> None:
    publish(log, topic, [("hot", f"{i}".encode()) for i in range(5)])
    publish(log, topic, keyed(9))
    everything = consume_all(log, topic, group)

    newest = log.tail(topic, 2)
    expected: list[Message] = []
    for partition in range(PARTITIONS):
        in_partition = [m for m in everything if m.partition == partition]
        expected += sorted(in_partition, key=by_position)[-2:]
    assert sorted(newest, key=by_position) == expected
    assert sorted(log.tail(topic, 100), key=by_position) == sorted(everything, key=by_position)
    assert log.committed(topic, group) == dict.fromkeys(range(PARTITIONS), 0)
    assert log.tail(topic, 0) == []


def test_a_sample_is_bounded_and_spread_evenly_over_every_partition(log: EventLog, topic: str, group: str) -> None:
    for start in range(0, 600, 200):  # three batches: on Kafka, transaction markers between them
        publish(log, topic, [(f"key-{i}", f"{i}".encode()) for i in range(start, start + 200)])
    ends = log.end_offsets(topic)

    sampled = sample(log, topic, 60, windows=5)
    assert sampled.positions == sum(ends.values())
    assert 50 <= len(sampled.messages) <= 60  # markers take a few of Kafka's offsets
    assert len(set(sampled.messages)) == len(sampled.messages)
    for partition, end in ends.items():
        offsets = sorted(m.offset for m in sampled.messages if m.partition == partition)
        assert offsets[0] <= 1 and offsets[-1] >= end * 4 // 5  # from the start to the last fifth
        assert len({offset * 5 // end for offset in offsets}) == 5  # one run in each fifth
    assert sample(log, topic, 60, windows=5) == sampled
    assert len(sample(log, topic, 10_000).messages) == 600
    assert log.committed(topic, group) == dict.fromkeys(range(PARTITIONS), 0)


def test_publishing_to_an_unknown_topic_names_it(log: EventLog) -> None:
    with pytest.raises(LookupError, match="never-created"):
        publish(log, "never-created", [("k", b"v")])


def test_ensure_topic_is_idempotent(log: EventLog, topic: str) -> None:
    publish(log, topic, keyed(4))
    log.ensure_topic(topic)
    assert sum(log.end_offsets(topic).values()) == 4
    assert len(log.end_offsets(topic)) == PARTITIONS


def publish_from_process(resource: Portable, topic: str, worker: int, count: int) -> None:
    kind, settings = resource
    with kind(**settings).open() as opened:
        for i in range(count):
            publish(opened, topic, [(f"key-{i % 7}", f"{worker}:{i}".encode())])


def test_publishers_in_several_processes_get_gapless_offsets_and_agree_on_partitions(
    log_resource: EventLogResource, log: EventLog, topic: str, group: str
) -> None:
    run_in_processes(publish_from_process, [(portable(log_resource), topic, n, 150) for n in range(3)])

    messages = consume_all(log, topic, group)
    assert len({m.value for m in messages}) == 450
    assert len({(m.key, m.partition) for m in messages}) == 7
    for partition, end in log.end_offsets(topic).items():
        offsets = sorted(m.offset for m in messages if m.partition == partition)
        assert offsets == list(range(end))


def test_the_sqlite_resource_opens_a_log_in_a_new_folder(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "events.sqlite"
    with SqliteEventLogResource(path=str(path), partitions=2).open() as opened:
        opened.ensure_topic("stores")
        assert sum(publish(opened, "stores", keyed(3)).values()) == 3
    with SqliteEventLogResource(path=str(path), partitions=2).open() as reopened:
        assert set(reopened.end_offsets("stores")) == {0, 1}
        assert len(consume_all(reopened, "stores", "raw")) == 3


def test_headers_and_bounds_come_back_as_published(log: EventLog, topic: str) -> None:
    headers = (("source_id", "ord-00001"), ("version", "ab12"), ("note", "ё"))
    log.publish(topic, [OutgoingMessage("same", b"1", headers), OutgoingMessage("same", b"2")])
    (partition,) = {p for p, end in log.end_offsets(topic).items() if end}

    everything = [m for batch in log.read(topic, {}, log.end_offsets(topic)) for m in batch]
    assert [(m.value, m.headers) for m in everything] == [(b"1", headers), (b"2", ())]
    assert log.tail(topic, 1)[0].headers == ()
    second = [m for batch in log.read(topic, {partition: 1}, log.end_offsets(topic)) for m in batch]
    assert [m.value for m in second] == [b"2"]
    assert [m for batch in log.read(topic, {}, {partition: 1}) for m in batch] == everything[:1]


def publish_then_hang(resource: Portable, topic: str, transactional_id: str, marker: Path) -> None:
    """Publish a transactional batch that never ends: the test kills this process mid-batch."""

    def endless():
        for i in range(5):
            yield OutgoingMessage(f"key-{i}", b"never committed")
        marker.write_text("sent")
        time.sleep(600)
        yield OutgoingMessage("last", b"unreachable")

    kind, settings = resource
    with kind(**settings).open() as opened:
        opened.fence(transactional_id)
        opened.publish(topic, endless(), transactional_id=transactional_id)


def test_a_batch_whose_publisher_is_killed_is_never_read(
    log_resource: EventLogResource, log: EventLog, topic: str, tmp_path: Path
) -> None:
    marker, transactional_id = tmp_path / "sent", f"publisher-of-{topic}"
    publisher = multiprocessing.get_context("spawn").Process(
        target=publish_then_hang, args=(portable(log_resource), topic, transactional_id, marker)
    )
    publisher.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and publisher.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the publisher never reached the middle of its batch"
    time.sleep(1)  # let the sends reach the broker: they must stay invisible all the same
    assert publisher.pid is not None
    os.kill(publisher.pid, signal.SIGKILL)
    publisher.join()

    with log_resource.open() as successor:
        successor.fence(transactional_id)
        assert [m for batch in successor.read(topic, {}, successor.end_offsets(topic)) for m in batch] == []
        successor.publish(topic, [OutgoingMessage("after", b"committed")], transactional_id=transactional_id)
    visible = [m for batch in log.read(topic, {}, log.end_offsets(topic)) for m in batch]
    assert [m.value for m in visible] == [b"committed"]


@pytest.mark.servers
def test_a_fenced_kafka_publisher_can_publish_nothing_more(kafka_port: int, tmp_path: Path) -> None:
    kafka = KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}")
    with kafka.open() as zombie, kafka.open() as successor:
        topic = f"fenced-{uuid.uuid4().hex[:8]}"
        transactional_id = f"publisher-of-{topic}"
        zombie.ensure_topic(topic)
        zombie.fence(transactional_id)
        zombie.publish(topic, [OutgoingMessage("k", b"before")], transactional_id=transactional_id)
        successor.fence(transactional_id)
        with pytest.raises(KafkaError):
            zombie.publish(topic, [OutgoingMessage("k", b"zombie")], transactional_id=transactional_id)
        visible = [m.value for batch in successor.read(topic, {}, successor.end_offsets(topic)) for m in batch]
    assert visible == [b"before"]


@pytest.mark.servers
def test_a_foreign_message_whose_key_and_headers_are_not_utf8_is_read_not_raised(kafka_port: int) -> None:
    """Another producer may write any bytes: the reader (the RAW loader) must still take the
    message, its key and headers decoded with replacement characters, its value untouched."""
    with KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}", partitions=PARTITIONS).open() as log:
        topic = f"foreign-{uuid.uuid4().hex[:8]}"
        log.ensure_topic(topic)
        producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{kafka_port}")
        try:
            producer.send(topic, key=b"\xff\xfeord", value=b"\xff{}", headers=[("origin", b"\xc3")]).get(timeout=30)
        finally:
            producer.close()
        (message,) = [m for batch in log.read(topic, {}, log.end_offsets(topic)) for m in batch]
    assert (message.key, message.value, message.headers) == ("\ufffd\ufffdord", b"\xff{}", (("origin", "\ufffd"),))


@pytest.mark.servers
def test_a_message_kafka_refuses_fails_the_whole_transactional_batch(kafka_port: int) -> None:
    """One failed send among many: the publish raises naming the topic, the transaction is
    aborted (read_committed readers see none of the batch), and the log publishes again after."""
    with KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}", partitions=PARTITIONS).open() as log:
        topic = f"refused-{uuid.uuid4().hex[:8]}"
        transactional_id = f"publisher-of-{topic}"
        log.ensure_topic(topic)
        log.fence(transactional_id)
        too_large = OutgoingMessage("huge", b"x" * (2 << 20))  # over the producer's 1 MiB request limit
        batch = (
            [OutgoingMessage(k, v) for k, v in keyed(50)] + [too_large] + [OutgoingMessage(k, v) for k, v in keyed(50, "after")]
        )
        with pytest.raises(KafkaError, match=f"publishing to '{topic}'"):
            log.publish(topic, batch, transactional_id=transactional_id)
        assert [m for b in log.read(topic, {}, log.end_offsets(topic)) for m in b] == []

        log.publish(topic, [OutgoingMessage("next", b"committed")], transactional_id=transactional_id)
        visible = [m.value for b in log.read(topic, {}, log.end_offsets(topic)) for m in b]
    assert visible == [b"committed"]


def test_a_published_batch_is_readable_as_soon_as_publish_returns(log: EventLog, topic: str) -> None:
    """Kafka answers a transaction's commit before its markers reach the partitions, and until
    they do a read_committed reader's end offsets stop short of the batch. Assets read the end
    offsets right after publishing, so `publish` returns only once the batch is readable."""
    transactional_id = f"publisher-of-{topic}"
    log.fence(transactional_id)
    for round_ in range(30):
        written = publish(log, topic, keyed(PARTITIONS * 4, f"round-{round_}"), transactional_id=transactional_id)
        ends = log.end_offsets(topic)
        assert all(ends[partition] >= offset for partition, offset in written.items()), (round_, written, ends)


def test_deleting_records_moves_the_log_start_and_keeps_the_end(log: EventLog, topic: str, group: str) -> None:
    assert log.beginning_offsets(topic) == dict.fromkeys(range(PARTITIONS), 0)
    ends = publish(log, topic, keyed(30))
    busiest = max(ends, key=ends.__getitem__)
    log.delete_records(topic, {busiest: ends[busiest] - 2})
    assert log.beginning_offsets(topic)[busiest] == ends[busiest] - 2
    assert log.end_offsets(topic) == {p: ends.get(p, 0) for p in range(PARTITIONS)}
    remaining = [m for batch in log.read(topic, {}, log.end_offsets(topic)) for m in batch]
    assert [m.offset for m in remaining if m.partition == busiest] == [ends[busiest] - 2, ends[busiest] - 1]
    assert len(remaining) == 30 - (ends[busiest] - 2)
    log.delete_records(topic, {busiest: ends[busiest]})  # everything: the partition still ends where it did
    assert log.beginning_offsets(topic)[busiest] == log.end_offsets(topic)[busiest] == ends[busiest]
    assert len(consume_all(log, topic, group)) == 30 - ends[busiest]
    sampled = sample(log, topic, 5)
    assert 0 < len(sampled.messages) <= 5 and all(m.partition != busiest for m in sampled.messages)
    assert sampled.positions == 30 - ends[busiest]
