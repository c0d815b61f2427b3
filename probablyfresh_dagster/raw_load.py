"""Kafka -> RAW exactly once, without a transaction spanning both.

Each batch is inserted, then its offsets are committed; at the end, the end offsets read to
(past any transaction markers, so that no lag is left behind). Only committed messages are read
(`read_committed`), so a batch a crashed publisher left open never reaches RAW. After a crash
between an insert and its commit, the batch is delivered again; rows at or above the next offset
ClickHouse itself holds for the partition are the only ones inserted, so the re-delivered offsets
are dropped (and the table's sorting key collapses any copy that two loaders racing past this
guard could still write).

When chDB's repair re-created the RAW table (or `raw_set_aside`) without its rows, it asks for the
whole topic to be read again (`raw_reloads`): the run reads from the start of the log instead of
the group's offsets, the guard keeps what RAW still holds, and the request is dropped once every
message is stored.

A message holding a clear-text phone or email (`pii_scan`: another producer's, or one an older
version published) is never copied into RAW: it is set aside in `raw_set_aside`, by its coordinates,
with the field and why, in the same step as its batch's insert, and the rest of the batch loads. So
no message can stop the entity; `make purge-pii` removes it from the log (`purge_pii`). Every message
read is screened, also those the guard drops, so a re-read records again what a lost `raw_set_aside`
held.

On a replicated ClickHouse `cluster`, where the next offset ClickHouse holds is only as
fresh as the replica that answers, the batches are regrouped into blocks of one partition and one
window of offsets, each inserted with its deduplication token (`raw_blocks`), so a retry's re-sent
blocks are dropped on every replica of the shard.

While ClickHouse inserts one batch, the next is consumed: chDB and the HTTP client leave the GIL
while the insert runs, so reading and decoding messages overlaps it. A batch is sent only once the
one before it is stored and committed, so an insert that fails leaves nothing stored above it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import orjson
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.cluster_ddl import run_mutation
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.events import EventLog, Message, consume, next_offsets
from probablyfresh_dagster.pii_scan import ClearText, clear_text_in_message, clear_text_kind
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.raw_blocks import aligned_blocks, cluster_insert_settings
from probablyfresh_dagster.row_binary import RAW_COLUMNS, ROW_BINARY, raw_rows
from probablyfresh_dagster.shards import WHOLE, Shard
from probablyfresh_dagster.sql import one_row, query, run_script

CLICKHOUSE_GROUP = "probablyfresh-clickhouse"
"""The Kafka consumer group of the RAW loaders; its committed offsets are what ClickHouse has."""

KEY = "(key)"
"""The field a set-aside message names when its key holds the clear text."""
SET_ASIDE = "and was not loaded into RAW"

RAW_INSERT_ROWS = 3_000
"""Messages per RAW insert (and per offset commit). Each insert makes a part for ClickHouse to
merge, so larger ones are faster, but chDB's memory grows with them: with the next batch read
during each insert, larger ones gained no time and cost memory (figures: README, Performance)."""


def load_raw(
    client: Client,
    log: EventLog,
    entity: Entity,
    batch_size: int = RAW_INSERT_ROWS,
    progress: Progress | None = None,
    cluster: str | None = None,
    shard: Shard = WHOLE,
) -> int:
    """Insert the entity's unread messages of the partitions of `shard` into its RAW table, as
    above, counting the messages read into `progress`; the rows inserted. On a replicated
    ClickHouse `cluster` it inserts `raw_blocks`' aligned blocks of `batch_size` offsets, each with
    its deduplication token. A reload, rare and table-wide, reads every partition whatever the shard."""
    run_script(client, "raw", table=entity.raw_table)
    run_script(client, "raw_set_aside")
    run_script(client, "raw_reloads")
    rows = query(client, "queries/raw_next_offsets", table=entity.raw_table).result_rows
    stored: dict[int, int] = {partition: offset for partition, offset in rows}
    end = log.end_offsets(entity.name)
    reload = one_row(client, "queries/raw_reload_requested", table=entity.raw_table)[0]
    if not reload:
        end = {partition: offset for partition, offset in end.items() if shard.owns_partition(partition)}
    if reload:
        start = log.beginning_offsets(entity.name)
        batches = log.read(entity.name, start, end, batch_size)
    else:
        start = log.committed(entity.name, CLICKHOUSE_GROUP)
        batches = consume(log, entity.name, CLICKHOUSE_GROUP, end, batch_size)
    if cluster is not None:
        batches = aligned_blocks(batches, batch_size)
    if progress is not None:
        # On top of what a run over several shards has done for the shards before this one.
        progress.total = progress.done + sum(offset - start.get(partition, 0) for partition, offset in end.items())
    inserted = 0
    sent: tuple[Future[int], dict[int, int]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{entity.raw_table}-insert") as inserter:
        for batch in batches:
            if sent:
                inserted += _commit_once_stored(log, entity, *sent)
            clean, set_aside = _screened(entity, batch)
            fresh = [m for m in clean if m.offset >= stored.get(m.partition, 0)]
            sent = (
                inserter.submit(_insert, client, entity.raw_table, fresh, set_aside, cluster),
                next_offsets(batch),
            )
            if progress is not None:
                progress.advance(len(batch))
        if sent:
            inserted += _commit_once_stored(log, entity, *sent)
    log.commit(entity.name, CLICKHOUSE_GROUP, end)
    if reload:
        run_mutation(client, "raw_load/reloaded", cluster, table=entity.raw_table)
    return inserted


def _screened(entity: Entity, messages: list[Message]) -> tuple[list[Message], list[dict[str, object]]]:
    """The messages without clear text, and a `raw_set_aside` row for each of the others."""
    clean, set_aside = [], []
    for message in messages:
        found = clear_text(message)
        if found is None:
            clean.append(message)
        else:
            set_aside.append(set_aside_row(entity, message, found))
    return clean, set_aside


def _insert(client: Client, table: str, clean: list[Message], set_aside: list[dict[str, object]], cluster: str | None) -> int:
    """Record the set-aside messages, then insert the clean ones; the rows inserted."""
    record_set_aside(client, set_aside)
    if clean:
        settings = cluster_insert_settings(clean) if cluster is not None else None
        client.raw_insert(table, RAW_COLUMNS, raw_rows(clean), settings=settings, fmt=ROW_BINARY)
    return len(clean)


def record_set_aside(client: Client, rows: list[dict[str, object]]) -> None:
    if rows:
        run_script(client, "raw_load/set_aside", rows=b"\n".join(map(orjson.dumps, rows)).decode())


def clear_text(message: Message) -> ClearText | None:
    """Where the message (its key, then its value) holds a clear-text phone or email, if it does."""
    if kind := clear_text_kind(message.key.encode()):
        return ClearText((KEY,), kind)
    return clear_text_in_message(message.value)


def set_aside_row(entity: Entity, message: Message, found: ClearText) -> dict[str, object]:
    invalid = found.invalid(SET_ASIDE)
    return {
        "entity": entity.name,
        "partition": message.partition,
        "offset": message.offset,
        "key": "" if found.path == (KEY,) else message.key,
        "field": invalid.field,
        "reason": invalid.reason,
    }


def _commit_once_stored(log: EventLog, entity: Entity, insert: Future[int], offsets: dict[int, int]) -> int:
    """Wait for the insert (raising its error), then commit its batch's offsets."""
    rows = insert.result()
    log.commit(entity.name, CLICKHOUSE_GROUP, offsets)
    return rows
