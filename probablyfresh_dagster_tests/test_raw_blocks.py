"""The RAW loader's guard on a replicated cluster (raw_blocks.py): blocks whose bounds do not depend
on the consumer's batches, tokens that name exactly their messages, and, in chDB, a retry after a
dead run that re-sends every block under the same tokens and adds no row although the replica it
asks where to resume knows nothing yet."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from probablyfresh_dagster import raw_load
from probablyfresh_dagster.entities import STORES
from probablyfresh_dagster.events import Message, OutgoingMessage
from probablyfresh_dagster.raw_blocks import aligned_blocks, deduplication_token
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import SqliteEventLogResource
from probablyfresh_dagster.sql import run_script

WIDTH = 7
CLUSTER = "probablyfresh"


def consumed(partitions: dict[int, range]) -> list[Message]:
    """Messages as a consumer delivers them: each partition's in offset order, partitions interleaved."""
    queues = {p: [Message("stores", p, o, f"k{p}-{o}", b"{}") for o in offsets] for p, offsets in partitions.items()}
    messages, rng = [], random.Random(7)
    while any(queues.values()):
        partition = rng.choice([p for p, queue in queues.items() if queue])
        messages.append(queues[partition].pop(0))
    return messages


def cut(messages: list[Message], seed: int) -> list[list[Message]]:
    """`messages` in batches of random sizes."""
    rng, batches, start = random.Random(seed), [], 0
    while start < len(messages):
        size = rng.randint(1, 12)
        batches.append(messages[start : start + size])
        start += size
    return batches


MESSAGES = consumed({0: range(3, 40), 1: range(0, 26), 2: range(50, 51)})


def test_the_blocks_are_the_same_however_the_consumer_cut_its_batches():
    blocks = [list(aligned_blocks(cut(MESSAGES, seed), WIDTH)) for seed in range(20)]
    assert all(b == blocks[0] for b in blocks)
    assert list(aligned_blocks([MESSAGES], WIDTH)) == blocks[0]


def test_a_block_is_one_partitions_messages_in_one_window_and_none_is_lost():
    blocks = list(aligned_blocks(cut(MESSAGES, 1), WIDTH))
    for block in blocks:
        assert len({m.partition for m in block}) == 1
        assert len({m.offset // WIDTH for m in block}) == 1
    assert sorted(m.key for block in blocks for m in block) == sorted(m.key for m in MESSAGES)
    # Partition 0 from offset 3: [3, 7) is cut short where the read starts, then whole windows.
    first = [[m.offset for m in block] for block in blocks if block[0].partition == 0][:2]
    assert first == [[3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13]]


def test_a_width_below_one_is_refused():
    with pytest.raises(ValueError, match="width must be at least 1"):
        list(aligned_blocks([MESSAGES], 0))


def test_the_token_is_the_same_for_the_same_range_and_differs_for_any_other():
    block = [m for m in MESSAGES if m.partition == 0][:WIDTH]
    assert deduplication_token(block) == deduplication_token(list(block)) == "stores/0/3-9/7"
    others = [
        block[1:],  # starts later
        block[:-1],  # ends earlier
        [m for m in block if m.offset != 5],  # same bounds, one message fewer
        [Message(m.topic, 1, m.offset, m.key, m.value) for m in block],  # another partition
        [Message("products", m.partition, m.offset, m.key, m.value) for m in block],  # another topic
    ]
    tokens = {deduplication_token(other) for other in others}
    assert len(tokens) == len(others) and deduplication_token(block) not in tokens


@pytest.fixture
def stale_replica(monkeypatch):
    """The replica the loader asks where RAW ends has not fetched a single part yet."""
    query = raw_load.query

    def stale(client, name, **parameters):
        return SimpleNamespace(result_rows=[]) if name == "queries/raw_next_offsets" else query(client, name, **parameters)

    monkeypatch.setattr(raw_load, "query", stale)


def publish(kafka: SqliteEventLogResource, keys: range) -> None:
    with kafka.open() as log:
        log.ensure_topic(STORES.name)
        log.publish(STORES.name, [OutgoingMessage(f"store-{n:03}", b"{}") for n in keys])


class RecutLog:
    """An event log whose reads come in batches of random sizes, as a Kafka consumer's do: what a
    fetch returns depends on timing, so a retry's batches are not the dead run's."""

    def __init__(self, log, seed: int):
        self._log, self._seed = log, seed

    def __getattr__(self, name):
        return getattr(self._log, name)

    def read(self, *args, **kwargs):
        return iter(cut([m for batch in self._log.read(*args, **kwargs) for m in batch], self._seed))


def rows_after_a_retry(tmp_path, cluster, published_meanwhile=range(0)):
    """Load 40 messages, lose the commits (a run that died after its inserts), publish
    `published_meanwhile`, load again against a stale replica, the consumer's batches cut otherwise;
    RAW's rows, without and with FINAL.

    The table keeps its blocks' tokens (or, without one, the hash of a block's data) as a replicated
    one does in Keeper: a non-replicated MergeTree does so once `non_replicated_deduplication_window`
    is set."""
    kafka = SqliteEventLogResource(path=str(tmp_path / "events.sqlite3"), partitions=2)
    publish(kafka, range(40))
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client, kafka.open() as log:
        run_script(client, "raw", table=STORES.raw_table)
        client.command(f"ALTER TABLE {STORES.raw_table} MODIFY SETTING non_replicated_deduplication_window = 1000")
        client.command(f"SYSTEM STOP MERGES {STORES.raw_table}")  # a merge would collapse the copies counted here
        first = raw_load.load_raw(client, RecutLog(log, 1), STORES, batch_size=WIDTH, cluster=cluster)
        ends = log.end_offsets(STORES.name)
        log.commit(STORES.name, raw_load.CLICKHOUSE_GROUP, dict.fromkeys(ends, 0))
        publish(kafka, published_meanwhile)
        raw_load.load_raw(client, RecutLog(log, 2), STORES, batch_size=WIDTH, cluster=cluster)
        stored = client.query(f"SELECT partition, offset FROM {STORES.raw_table} ORDER BY ALL").result_rows
        final = client.query(f"SELECT count() FROM {STORES.raw_table} FINAL").result_rows[0][0]
    return {"first": first, "ends": ends, "rows": stored, "final": final}


@pytest.mark.usefixtures("stale_replica")
def test_a_retry_re_sends_every_block_under_its_token_and_adds_no_row(tmp_path):
    retried = rows_after_a_retry(tmp_path, cluster=CLUSTER)
    assert retried["first"] == 40
    assert len(retried["rows"]) == len(set(retried["rows"])) == retried["final"] == 40


@pytest.mark.usefixtures("stale_replica")
def test_the_single_node_loaders_batches_differ_on_a_retry_and_are_stored_twice(tmp_path):
    """The data hash a replicated table deduplicates by does not help when the batches differ."""
    retried = rows_after_a_retry(tmp_path, cluster=None)
    assert len(retried["rows"]) > 40 and len(set(retried["rows"])) == retried["final"] == 40


@pytest.mark.usefixtures("stale_replica")
def test_only_the_dead_runs_last_block_of_a_grown_partition_is_stored_twice(tmp_path):
    """Messages published between the dead run and its retry make the last window of a partition a
    longer block under another token; ReplacingMergeTree's (partition, offset) collapses its copy,
    on the shard that holds the partition (read with FINAL)."""
    retried = rows_after_a_retry(tmp_path, cluster=CLUSTER, published_meanwhile=range(40, 50))
    rows = retried["rows"]
    twice = sorted({row for row in rows if rows.count(row) == 2})
    ends = retried["ends"]
    last_windows = {(p, o) for p, end in ends.items() for o in range(end // WIDTH * WIDTH, end)}
    assert twice and set(twice) <= last_windows
    assert retried["final"] == len(set(rows)) == 50
