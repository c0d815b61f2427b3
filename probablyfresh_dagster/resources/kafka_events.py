"""The event log on Kafka through kafka-python (>= 3.0.12, for transactions).

Consumers never join a group: partitions are assigned by hand and the group id only names the
committed offsets, so reading starts at once with no rebalance to wait for. Every consumer reads
`read_committed`: messages of an aborted or still open transaction are never seen. One read at
a time per log instance, since its reader is reused between calls.

A batch is published in one Kafka transaction when a transactional id is given (the outbox's
way), else by the idempotent producer with one flush. Partitioning is Kafka's own (murmur2 of the
UTF-8 key), not the embedded log's crc32.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.serializer import DefaultSerializer

from probablyfresh_dagster.events import Headers, Message, OutgoingMessage
from probablyfresh_dagster.transient import retrying

SASL_MECHANISM = "SCRAM-SHA-512"
"""The mechanism of the stack's host listener (docker-compose.yml); only a client with a user uses it."""
POLL_TIMEOUT_MS = 500
TAIL_POLL_RECORDS = 1000
READABLE_POLL_SECONDS = 0.005
T = TypeVar("T")

PRODUCER_THROUGHPUT: dict[str, Any] = {"linger_ms": 50, "batch_size": 1 << 20}
"""Record batches of up to 1 MiB per partition, filled for up to 50 ms (kafka-python's defaults,
16 KiB and 0 ms, send a request every few records). `publish` ends with a flush, which sends at
once whatever is lingering, so a small batch waits for nothing. No compression: gzip, the codec
kafka-python has without another package, made publishing slower on the loopback (measured)."""
CONSUMER_BULK: dict[str, Any] = {"max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 64 << 20}
"""Up to 8 MiB per partition per fetch (default 1 MiB): fewer round trips when a loader catches up
on a whole topic. `fetch_min_bytes` stays 1: every read stops at an end offset known to exist, so
waiting for more bytes would only delay the last fetch."""
PEEK_FETCH: dict[str, Any] = {"max_partition_fetch_bytes": 64 << 10}
PEEK_MESSAGES = 1000
"""A read of at most this many offsets (a sample's run, a tail) fetches with `PEEK_FETCH`: the
broker still sends the whole record batch holding the first offset, but no more. With the bulk
settings each run of the PII check's sample fetched 8 MiB per partition, and kafka-python decoded
every record of it, many times the sample."""
PRODUCER_WAIT_TIMEOUTS = 3
"""A publish waits at most this many `timeout_ms` on each blocking producer call (the flush, the
commit, an abort): time for one request to time out and go again to the partition's or the
transaction coordinator's new leader once a cluster notices a dead broker (within its
`broker.session.timeout.ms`, 9 s by default). Past it, `KafkaTimeoutError`, which is transient: the
step runs again with a fresh producer, whose fence aborts the transaction left open, or completes
it if its commit had been logged (then the outbox recovers its messages instead of repeating them)."""


class KafkaEventLog:
    def __init__(
        self,
        bootstrap_servers: str,
        partitions: int,
        replication_factor: int = 1,
        min_insync_replicas: int = 1,
        timeout_ms: int = 10_000,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._servers = [server.strip() for server in bootstrap_servers.split(",")]
        # With a user, SASL/SCRAM over plaintext (the stack's HOST listener is on loopback only).
        self._sasl: dict[str, Any] = (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_plain_username": username,
                "sasl_plain_password": password,
            }
            if username
            else {}
        )
        if not 1 <= min_insync_replicas <= replication_factor:
            raise ValueError(
                f"min.insync.replicas {min_insync_replicas} must be between 1 and the replication factor {replication_factor}:"
                " past it, every write with acks=all is refused"
            )
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._min_insync_replicas = min_insync_replicas
        self._timeout_ms = timeout_ms
        self._wait_ms = PRODUCER_WAIT_TIMEOUTS * timeout_ms
        self._admin: KafkaAdminClient | None = None
        self._producers: dict[str | None, KafkaProducer] = {}
        self._consumers: dict[tuple[str | None, bool], KafkaConsumer] = {}
        self._described: dict[str, list[TopicPartition]] = {}

    def _connect(self, client: Callable[..., T], **config: Any) -> T:
        try:
            return retrying(
                f"Kafka at {','.join(self._servers)}",
                lambda: client(
                    bootstrap_servers=self._servers,
                    bootstrap_timeout_ms=self._timeout_ms,
                    request_timeout_ms=self._timeout_ms,
                    **self._sasl,
                    **config,
                ),
            )
        except KafkaError as error:
            raise ConnectionError(f"Kafka at {','.join(self._servers)} is not reachable: {error}") from error

    def _admin_client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = self._connect(KafkaAdminClient)
        return self._admin

    def _producer(self, transactional_id: str | None) -> KafkaProducer:
        if transactional_id not in self._producers:
            if transactional_id is not None:
                raise RuntimeError(f"fence({transactional_id!r}) before publishing under it")
            self._producers[None] = self._new_producer()
        return self._producers[transactional_id]

    def _new_producer(self, **config: Any) -> KafkaProducer:
        return self._connect(
            KafkaProducer,
            acks="all",
            enable_idempotence=True,
            key_serializer=DefaultSerializer("utf-8"),
            allow_auto_create_topics=False,
            max_block_ms=self._timeout_ms,
            **PRODUCER_THROUGHPUT,
            **config,
        )

    def _consumer(self, group: str | None, peek: bool = False) -> KafkaConsumer:
        """The group's consumer, or with no group the reader used for offsets and reads; with
        `peek`, one that fetches with `PEEK_FETCH`."""
        if (group, peek) not in self._consumers:
            self._consumers[group, peek] = self._connect(
                KafkaConsumer,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                **(PEEK_FETCH if peek else CONSUMER_BULK),
            )
        return self._consumers[group, peek]

    def _topic_partitions(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions, described once per log instance (an asset step's): a publish
        asks for them every batch, and each description is a round trip to the broker."""
        if topic not in self._described:
            self._described[topic] = self._describe(topic)
        return self._described[topic]

    def _describe(self, topic: str) -> list[TopicPartition]:
        (described,) = self._admin_client().describe_topics([topic])
        error = described.get("error_code", 0)
        if error == UnknownTopicOrPartitionError.errno:
            raise LookupError(f"topic {topic!r} does not exist on Kafka (ensure_topic first)")
        if error:
            raise KafkaError(f"describing topic {topic!r} failed with error code {error}")
        indexes = sorted(partition["partition_index"] for partition in described["partitions"])
        return [TopicPartition(topic, index) for index in indexes]

    def ensure_topic(self, topic: str) -> None:
        """Idempotent; an existing topic keeps its partition count and replication. On a cluster,
        with a replication factor of 3 and `min.insync.replicas` 2, a write (acks=all) is
        acknowledged once 2 replicas hold it, so one broker can die without losing it."""
        try:
            self._admin_client().create_topics(
                {
                    topic: {
                        "num_partitions": self._partitions,
                        "replication_factor": self._replication_factor,
                        "configs": {"min.insync.replicas": str(self._min_insync_replicas)},
                    }
                },
                timeout_ms=self._timeout_ms,
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            pass

    def fence(self, transactional_id: str) -> None:
        """`init_transactions` bumps the id's epoch: the broker aborts the open transaction of any
        earlier producer with this id, and refuses that producer from now on."""
        if transactional_id not in self._producers:
            producer = self._new_producer(transactional_id=transactional_id)
            producer.init_transactions()
            self._producers[transactional_id] = producer

    def publish(self, topic: str, messages: Sequence[OutgoingMessage], transactional_id: str | None = None) -> dict[int, int]:
        """Sends the batch, flushes once, checks every send, then commits the transaction (if any)
        and returns once readers see it: one failed message fails the publish, its transaction
        aborted."""
        self._topic_partitions(topic)
        producer = self._producer(transactional_id)
        transactional = transactional_id is not None
        if transactional:
            producer.begin_transaction()
        try:
            futures = [
                producer.send(
                    topic,
                    key=message.key,
                    value=message.value,
                    headers=[(name, value.encode()) for name, value in message.headers],
                )
                for message in messages
            ]
            producer.flush(timeout=self._wait_ms / 1000)
            for future in futures:
                if not future.succeeded():
                    raise future.exception
        except BaseException as error:
            if transactional:
                # A fenced producer cannot abort: the fence of its successor already did.
                with contextlib.suppress(KafkaError):
                    end_transaction(producer, commit=False, timeout_ms=self._wait_ms)
            if isinstance(error, KafkaError):  # a send refused at once, or failed on the broker
                raise KafkaError(f"publishing to {topic!r} on {','.join(self._servers)} failed: {error}") from error
            raise
        written: dict[int, int] = {}
        for future in futures:
            sent = future.value
            written[sent.partition] = max(written.get(sent.partition, 0), sent.offset + 1)
        if transactional:
            end_transaction(producer, commit=True, timeout_ms=self._wait_ms)
            self._await_readable(topic, written)
        return written

    def _await_readable(self, topic: str, written: dict[int, int]) -> None:
        """Wait until read_committed end offsets cover `written`.

        The coordinator answers a commit once it has logged it, and writes the markers that make
        the batch readable to the partitions a moment later; until then the last stable offset,
        the end a read_committed reader sees, stops short of the batch. Assets read the end
        offsets right after publishing, so a publish returns only once its batch is readable.
        """
        deadline = time.monotonic() + self._timeout_ms / 1000
        while True:
            ends = self.end_offsets(topic)
            if all(ends.get(partition, 0) >= offset for partition, offset in written.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the batch committed to {topic!r} ends at {written} but readers still see {ends} after {self._timeout_ms} ms"
                )
            time.sleep(READABLE_POLL_SECONDS)

    def end_offsets(self, topic: str) -> dict[int, int]:
        ends = self._consumer(None).end_offsets(self._topic_partitions(topic), timeout_ms=self._timeout_ms)
        return {tp.partition: offset for tp, offset in ends.items()}

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        begins = self._consumer(None).beginning_offsets(self._topic_partitions(topic), timeout_ms=self._timeout_ms)
        return {tp.partition: offset for tp, offset in begins.items()}

    def delete_records(self, topic: str, before: dict[int, int]) -> None:
        self._admin_client().delete_records(
            {TopicPartition(topic, partition): offset for partition, offset in before.items()},
            timeout_ms=self._timeout_ms,
        )

    def committed(self, topic: str, group: str) -> dict[int, int]:
        consumer = self._consumer(group)
        return {tp.partition: consumer.committed(tp, timeout_ms=self._timeout_ms) or 0 for tp in self._topic_partitions(topic)}

    def read(self, topic: str, start: dict[int, int], end: dict[int, int], batch_size: int = 1000) -> Iterator[list[Message]]:
        partitions = [tp for tp in self._topic_partitions(topic) if tp.partition in end]
        span = sum(end[tp.partition] - start.get(tp.partition, 0) for tp in partitions)
        reader = self._consumer(None, peek=span <= PEEK_MESSAGES)
        begins = reader.beginning_offsets(partitions, timeout_ms=self._timeout_ms)
        reader.assign(partitions)
        for tp in partitions:
            reader.seek(tp, max(begins[tp], start.get(tp.partition, 0)))
        yield from self._read_until(reader, {tp: end[tp.partition] for tp in partitions}, batch_size)

    def commit(self, topic: str, group: str, offsets: dict[int, int]) -> None:
        self._consumer(group).commit(
            {TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1) for partition, offset in offsets.items()},
            timeout_ms=self._timeout_ms,
        )

    def tail(self, topic: str, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        ends = self.end_offsets(topic)
        starts = {partition: end - limit for partition, end in ends.items()}
        newest = [m for batch in self.read(topic, starts, ends, TAIL_POLL_RECORDS) for m in batch]
        return sorted(newest, key=lambda message: (message.partition, message.offset))

    def _read_until(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int], batch_size: int) -> Iterator[list[Message]]:
        """Poll until every partition's position reaches its end snapshot.

        Records past the snapshot (appended meanwhile) are dropped; positions, not record
        counts, decide the end, so gaps left by compaction or transaction markers cannot hang.
        """
        positions = self._positions(consumer, ends)
        last_progress = time.monotonic()
        while any((position := positions[tp]) is None or position < end for tp, end in ends.items()):
            polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=batch_size)
            batch = [
                Message(tp.topic, tp.partition, record.offset, _text(record.key), record.value, _headers(record.headers))
                for tp, records in sorted(polled.items())
                for record in records
                if record.offset < ends[tp]
            ]
            if batch:
                yield batch
            advanced = self._positions(consumer, ends)
            if advanced != positions:
                positions, last_progress = advanced, time.monotonic()
            elif time.monotonic() - last_progress > self._timeout_ms / 1000:
                raise TimeoutError(
                    f"reading {sorted(ends)} from {','.join(self._servers)} made no progress for {self._timeout_ms} ms"
                )

    def _positions(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int | None]:
        return {tp: consumer.position(tp, timeout_ms=self._timeout_ms) for tp in ends}

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close(autocommit=False)
        self._consumers.clear()
        for producer in self._producers.values():
            producer.close(timeout=self._timeout_ms / 1000)
        self._producers.clear()
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def end_transaction(producer: KafkaProducer, commit: bool, timeout_ms: int) -> None:
    """`producer.commit_transaction()` (or `abort_transaction()`), waiting at most `timeout_ms` for
    the coordinator's answer; past it, `KafkaTimeoutError`.

    kafka-python 3.0.12 waits for that answer without a time limit (`result.wait()`), and a
    producer whose transaction coordinator was SIGKILLed mid-transaction never got one: the publish
    waited for ever instead of failing into a step retry. So this does what those two methods do
    through the producer's private `_transaction_manager` and `_sender` (kafka-python 3.0.12;
    test_resources checks they are still there), with the bounded wait `init_transactions` has.
    """
    manager = producer._transaction_manager
    result = manager.begin_commit() if commit else manager.begin_abort()
    producer._sender.wakeup()
    if not result.wait(timeout_ms=timeout_ms):
        raise KafkaTimeoutError(f"the transaction's {'commit' if commit else 'abort'} had no answer within {timeout_ms} ms")


def _text(data: bytes | None) -> str:
    """A key or header value as text: any producer may have written them, so bytes that are not
    UTF-8 become replacement characters instead of stopping the reader."""
    return data.decode("utf-8", "replace") if data is not None else ""


def _headers(headers: list[tuple[str, bytes]] | None) -> Headers:
    return tuple((name, _text(value)) for name, value in headers or ())
