"""What `make benchmark` holds the stages against, each measured in the stage's own process.

- The floor: the least work any Python stage does per record (read it from the landing zone,
  parse it, encrypt its phone and email with Fernet, serialize it), with nothing else around it.
- The source documents' method: one INSERT per message into a RAW table on the same ClickHouse.
  Only the inserts are timed (the source also parsed each message first), so RAW's ratio to it
  is, if anything, understated.
- On a real broker, a bare kafka-python producer and consumer moving the stage's own messages,
  configured as the event log configures its clients (see `kafka_events`). Two producers: one
  that sends everything and flushes once (idempotent, no transaction: the fastest kafka-python
  goes), and one with the stage's guarantees, which sends the same messages with their headers in
  the stage's transactions (`outbox.PUBLISH_BATCH` messages each: begin, send, flush, commit).
- What the rules added to the landing and RAW for issue 17 cost a record, each measured alone on
  the floor's records: the repeated-name check and the clear-text scan of the landing, and RAW's
  clear-text screen of a published (encrypted) message.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from cryptography.fernet import Fernet
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from probablyfresh_dagster.documents import batched
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.heap import collecting_new_objects_only
from probablyfresh_dagster.landing import check_unique_names
from probablyfresh_dagster.landing_folder import ONE_RECORD_SUFFIX, landing_entries
from probablyfresh_dagster.outbox import PUBLISH_BATCH
from probablyfresh_dagster.pii import PiiFields, protect
from probablyfresh_dagster.pii_scan import clear_text_in_message, undeclared_clear_text
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.kafka_events import CONSUMER_BULK, PRODUCER_THROUGHPUT
from probablyfresh_dagster.row_binary import RAW_COLUMNS, ROW_BINARY, raw_rows
from probablyfresh_dagster.sql import run_script
from probablyfresh_dagster.storable import check_storable

SINGLE_INSERT_TABLE = "benchmark_single_inserts"
BARE_TOPIC_SUFFIX = "_bare"
TRANSACTIONAL_SUFFIX = "_bare_transactional"


def floor_rate(entity: Entity, folder: Path, cipher: Fernet, limit: int) -> float:
    """Records per second through read + parse + two Fernet encryptions + serialize (orjson)."""
    started = time.perf_counter()
    return floor_work(entity, islice(_raw_records(folder), limit), cipher) / (time.perf_counter() - started)


def floor_work(entity: Entity, records: Iterable[bytes], cipher: Fernet) -> int:
    """The floor's work on each record after it is read (parse, encrypt, serialize); how many."""
    count, personal = 0, PiiFields.parse(entity.pii)
    for data in records:
        record = orjson.loads(data)
        for _, holder, key, value in personal.present(record):
            holder[key] = cipher.encrypt(value.encode()).decode()
        orjson.dumps(record)
        count += 1
    return count


def rule_costs(entity: Entity, folder: Path, cipher: Fernet, limit: int) -> dict[str, float]:
    """Seconds per record of each rule, on up to `limit` records held in memory (parsed once, the
    heap frozen as the stages freeze it): `repeated_names` and `clear_text` of the landing, and
    `raw_screen`, RAW's scan of the record as the Kafka stage publishes it."""
    personal = PiiFields.parse(entity.pii)
    texts = list(islice(_raw_records(folder), limit))
    bodies = [orjson.loads(text) for text in texts]
    strings = [check_storable(body) for body in bodies]

    def repeated_names() -> list[tuple[bytes, Any, int]]:
        records = list(zip(texts, bodies, strings, strict=True))
        for record in records:
            check_unique_names(*record)
        return records

    with collecting_new_objects_only():
        costs = {
            "repeated_names": _per_record(repeated_names),
            "clear_text": _per_record(
                lambda: [undeclared_clear_text(t, b, personal) for t, b in zip(texts, bodies, strict=True)]
            ),
        }
        for body in bodies:
            protect(body, personal, cipher)
        payloads = [orjson.dumps(body) for body in bodies]
        costs["raw_screen"] = _per_record(lambda: [clear_text_in_message(payload) for payload in payloads])
    return costs


def _per_record(work: Callable[[], list[Any]]) -> float:
    started = time.perf_counter()
    records = len(work())
    return (time.perf_counter() - started) / max(records, 1)


def _raw_records(folder: Path) -> Iterator[bytes]:
    for path in (folder / entry.name for entry in landing_entries(folder) if entry.kind is None):
        if path.name.endswith(ONE_RECORD_SUFFIX):
            yield path.read_bytes()
        else:
            with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as lines:
                yield from lines


def single_insert_rate(entity: Entity, kafka: EventLogResource, clickhouse: ClickHouseResource, limit: int) -> float:
    """Messages per second inserted one INSERT each into a table made like the entity's RAW table."""
    with kafka.open() as log:
        messages = [m for batch in log.read(entity.name, {}, log.end_offsets(entity.name)) for m in batch][:limit]
    with clickhouse.client() as client:
        run_script(client, "raw", table=SINGLE_INSERT_TABLE)
        started = time.perf_counter()
        for message in messages:
            client.raw_insert(SINGLE_INSERT_TABLE, RAW_COLUMNS, raw_rows([message]), fmt=ROW_BINARY)
        return len(messages) / (time.perf_counter() - started)


class BareRates(NamedTuple):
    """Messages per second of the bare clients."""

    producer: float
    transactional_producer: float
    consumer: float


def bare_kafka_rates(topic: str, bootstrap: str, partitions: int) -> BareRates:
    """The consumer reads `topic` from the start, then each producer sends what it read to a new
    topic: `topic` + `BARE_TOPIC_SUFFIX`, and + `TRANSACTIONAL_SUFFIX` with the stage's guarantees."""
    consumed, messages = _bare_consume(topic, bootstrap)
    produced = _bare_produce(topic + BARE_TOPIC_SUFFIX, messages, bootstrap, partitions)
    in_transactions = _bare_produce(topic + TRANSACTIONAL_SUFFIX, messages, bootstrap, partitions, PUBLISH_BATCH)
    return BareRates(produced, in_transactions, consumed)


Received = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""A message's key, value and headers."""


def _bare_consume(topic: str, bootstrap: str) -> tuple[float, list[Received]]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed", **CONSUMER_BULK
    )
    with closing(consumer):
        assigned = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        messages: list[Received] = []
        started = time.perf_counter()
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                messages.extend((record.key, record.value, record.headers) for record in records)
        return len(messages) / (time.perf_counter() - started), messages


def _bare_produce(
    topic: str, messages: list[Received], bootstrap: str, partitions: int, transaction_size: int | None = None
) -> float:
    """Without `transaction_size`: the keys and values sent with one flush at the end, then every
    send checked. With it: the messages with their headers, in transactions of that many, each
    flushed, checked and committed, as `KafkaEventLog.publish` does."""
    with closing(KafkaAdminClient(bootstrap_servers=bootstrap)) as admin:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True)
    transactional = {"transactional_id": f"{topic}-bare"} if transaction_size else {}
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **transactional, **PRODUCER_THROUGHPUT
    )
    with closing(producer):
        started = time.perf_counter()
        if transaction_size is None:
            futures = [producer.send(topic, key=key, value=value) for key, value, _ in messages]
            producer.flush()
            for future in futures:
                future.get(timeout=0)  # raises the send's error, if it failed
        else:
            producer.init_transactions()
            for batch in batched(messages, transaction_size):
                producer.begin_transaction()
                futures = [producer.send(topic, key=key, value=value, headers=headers) for key, value, headers in batch]
                producer.flush()
                for future in futures:
                    future.get(timeout=0)
                producer.commit_transaction()
        return len(messages) / (time.perf_counter() - started)
