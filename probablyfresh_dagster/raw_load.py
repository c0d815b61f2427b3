"""Kafka -> RAW exactly once, without a transaction spanning both.

Each batch is inserted, then its offsets are committed; at the end, the end offsets read to
(past any transaction markers, so that no lag is left behind). Only committed messages are read
(`read_committed`), so a batch a crashed publisher left open never reaches RAW. After a crash
between an insert and its commit, the batch is delivered again; rows at or above the next offset
ClickHouse itself holds for the partition are the only ones inserted, so the re-delivered offsets
are dropped (and the table's sorting key collapses any copy that two loaders racing past this
guard could still write).

While ClickHouse inserts one batch, the next is consumed: chDB and the HTTP client leave the GIL
while the insert runs, so reading and decoding messages overlaps it. A batch is sent only once the
one before it is stored and committed, so an insert that fails leaves nothing stored above it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.resources.events import EventLog, Message, consume, next_offsets
from probablyfresh_dagster.row_binary import RAW_COLUMNS, ROW_BINARY, raw_rows
from probablyfresh_dagster.sql import query, run_script

CLICKHOUSE_GROUP = "probablyfresh-clickhouse"
"""The Kafka consumer group of the RAW loaders; its committed offsets are what ClickHouse has."""

RAW_INSERT_ROWS = 3_000
"""Messages per RAW insert (and per offset commit). Each insert makes a part for ClickHouse to
merge, so larger ones are faster, but chDB's memory grows with them. RAW of 1M purchases, the
next batch read during each insert: 5,000 took 28 s and peaked at 904 MiB, 3,000 took 28 s and
peaked at 795 MiB (at 100k: 3.5-3.7 s against 4.0 s). Inserting one batch at a time, 10,000 took
27-31 s and peaked at 920-990 MiB."""


def load_raw(client: Client, log: EventLog, entity: Entity, batch_size: int = RAW_INSERT_ROWS) -> int:
    """Insert the entity's unread messages into its RAW table, as above; the rows inserted."""
    run_script(client, "raw", table=entity.raw_table)
    stored = dict(query(client, "queries/raw_next_offsets", table=entity.raw_table).result_rows)
    end = log.end_offsets(entity.name)
    inserted = 0
    sent: tuple[Future[int], dict[int, int]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{entity.raw_table}-insert") as inserter:
        for batch in consume(log, entity.name, CLICKHOUSE_GROUP, end, batch_size):
            if sent:
                inserted += _commit_once_stored(log, entity, *sent)
            fresh = [m for m in batch if m.offset >= stored.get(m.partition, 0)]
            sent = (inserter.submit(_insert, client, entity.raw_table, fresh), next_offsets(batch))
        if sent:
            inserted += _commit_once_stored(log, entity, *sent)
    log.commit(entity.name, CLICKHOUSE_GROUP, end)
    return inserted


def _insert(client: Client, table: str, messages: list[Message]) -> int:
    if messages:
        client.raw_insert(table, RAW_COLUMNS, raw_rows(messages), fmt=ROW_BINARY)
    return len(messages)


def _commit_once_stored(log: EventLog, entity: Entity, insert: Future[int], offsets: dict[int, int]) -> int:
    """Wait for the insert (raising its error), then commit its batch's offsets."""
    rows = insert.result()
    log.commit(entity.name, CLICKHOUSE_GROUP, offsets)
    return rows
