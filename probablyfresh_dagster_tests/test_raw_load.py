"""The RAW load: payload bytes stored exactly as consumed, the next batch read while one is
inserted, nothing stored above a failed insert, and no pandas import."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from probablyfresh_dagster.entities import STORES
from probablyfresh_dagster.events import Message, OutgoingMessage
from probablyfresh_dagster.outbox import SOURCE_ID, VERSION
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP, load_raw
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import EventLogResource, SqliteEventLogResource
from probablyfresh_dagster.row_binary import RAW_COLUMNS, ROW_BINARY, raw_rows
from probablyfresh_dagster.settings import PROJECT_ROOT
from probablyfresh_dagster.sql import run_script

from .support import wait_for


def test_raw_rows_reach_clickhouse_byte_for_byte(tmp_path):
    """The source id comes from the outbox's header; a foreign producer's message has none."""
    messages = [
        Message("stores", 0, 0, "store-001", b'{"name":"\xd0\x81"}', ((VERSION, "9f2"), (SOURCE_ID, "stores.jsonl/12"))),
        Message("stores", 2, 2**40, "\ufffdkey", b"\xff not UTF-8"),  # a foreign producer's bytes
        Message("stores", 4_000_000_000, 7, "", b"x" * 20_000, ((SOURCE_ID, "Ёлка"),)),  # a three-byte length prefix
    ]
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client:
        run_script(client, "raw", table="stores_raw")
        client.raw_insert("stores_raw", RAW_COLUMNS, raw_rows(messages), fmt=ROW_BINARY)
        stored = client.query(
            "SELECT topic, partition, offset, key, source, hex(payload) FROM stores_raw ORDER BY partition"
        ).result_rows
    assert stored == [
        ("stores", 0, 0, "store-001", "stores.jsonl/12", messages[0].value.hex().upper()),
        ("stores", 2, 2**40, "\ufffdkey", "", messages[1].value.hex().upper()),
        ("stores", 4_000_000_000, 7, "", "Ёлка", messages[2].value.hex().upper()),
    ]


class Wrapped:
    """An object's attributes, some of them replaced."""

    def __init__(self, inner, **replaced):
        self._inner, self._replaced = inner, replaced

    def __getattr__(self, name):
        return self._replaced.get(name) or getattr(self._inner, name)


def stores_log(tmp_path, messages: int) -> EventLogResource:
    kafka = SqliteEventLogResource(path=str(tmp_path / "events.sqlite3"), partitions=1)
    with kafka.open() as log:
        log.ensure_topic(STORES.name)
        log.publish(STORES.name, [OutgoingMessage(f"store-{n:03}", b"{}") for n in range(messages)])
    return kafka


def raw_offsets(client) -> list[int]:
    return [offset for (offset,) in client.query(f"SELECT offset FROM {STORES.raw_table} ORDER BY offset").result_rows]


def test_the_next_batch_is_read_while_clickhouse_inserts_one(tmp_path):
    second_batch_read = threading.Event()

    def read(*args, **kwargs):
        for number, batch in enumerate(log.read(*args, **kwargs), start=1):
            if number == 2:
                second_batch_read.set()
            yield batch

    def raw_insert(*args, **kwargs):
        if not second_batch_read.is_set():  # the first insert: it overlaps the second read, or waits in vain
            assert second_batch_read.wait(10), "the second batch was not read during the first insert"
        return client.raw_insert(*args, **kwargs)

    with stores_log(tmp_path, 25).open() as log, ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client:
        assert load_raw(Wrapped(client, raw_insert=raw_insert), Wrapped(log, read=read), STORES, batch_size=10) == 25
        assert raw_offsets(client) == list(range(25))


def test_a_failed_insert_stores_nothing_above_it_and_the_next_load_finishes_exactly_once(tmp_path):
    """Had the third batch been sent before the second one's insert was known to succeed, RAW's
    highest offset would be past the failed batch, and the next load would skip it."""
    inserts = 0

    def failing_second_insert(*args, **kwargs):
        nonlocal inserts
        inserts += 1
        if inserts == 2:
            raise RuntimeError("ClickHouse refused the insert")
        return client.raw_insert(*args, **kwargs)

    with stores_log(tmp_path, 25).open() as log, ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client:
        with pytest.raises(RuntimeError, match="refused"):
            load_raw(Wrapped(client, raw_insert=failing_second_insert), log, STORES, batch_size=10)
        assert raw_offsets(client) == list(range(10))
        assert log.committed(STORES.name, CLICKHOUSE_GROUP) == {0: 10}
        assert load_raw(client, log, STORES, batch_size=10) == 15
        assert raw_offsets(client) == list(range(25))


KILLED_LOAD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from probablyfresh_dagster.entities import STORES
    from probablyfresh_dagster.raw_load import load_raw
    from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
    from probablyfresh_dagster.resources.events import SqliteEventLogResource
    from probablyfresh_dagster_tests.test_raw_load import Wrapped

    root, method, pause_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    calls = 0

    def pausing(original):
        def call(*args, **kwargs):
            global calls
            calls += 1
            if calls == pause_at:
                (root / "paused").write_text("paused")
                time.sleep(3600)
            return original(*args, **kwargs)
        return call

    kafka = SqliteEventLogResource(path=str(root / "events.sqlite3"), partitions=1)
    with kafka.open() as log, ClickHouseResource(dsn=f"chdb:///{root / 'ch'}").client() as client:
        if method == "raw_insert":
            client = Wrapped(client, raw_insert=pausing(client.raw_insert))
        else:
            log = Wrapped(log, commit=pausing(log.commit))
        load_raw(client, log, STORES, batch_size=10)
    """
)


@pytest.mark.parametrize(
    ("method", "call", "left_inserted"),
    [
        ("raw_insert", 2, 15),  # the second insert in flight, the third batch already read
        ("commit", 2, 5),  # the second batch stored, its offsets not committed
        ("commit", 3, 0),  # every batch stored, the last one's offsets not committed
    ],
)
def test_a_load_killed_mid_way_is_finished_exactly_once_by_the_next(tmp_path, method, call, left_inserted):
    kafka = stores_log(tmp_path, 25)
    loader = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD, str(tmp_path), method, str(call)],
        cwd=PROJECT_ROOT,
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: (tmp_path / "paused").exists() or loader.poll() is not None, 60, "the load to pause")
        assert loader.poll() is None, loader.stderr.read().decode()[-3000:]
    finally:
        os.killpg(loader.pid, signal.SIGKILL)
        loader.wait()
    with kafka.open() as log, ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client:
        assert load_raw(client, log, STORES, batch_size=10) == left_inserted
        assert raw_offsets(client) == list(range(25))
        assert log.committed(STORES.name, CLICKHOUSE_GROUP) == {0: 25}


def test_neither_raw_nor_mart_imports_pandas(tmp_path):
    """clickhouse-connect's `insert` imports pandas (0.5 to 0.9 s) to ask whether rows are a
    DataFrame; the RAW and MART steps, in a process of their own, must not."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import dagster as dg
        from probablyfresh_dagster.definitions import build_definitions
        from probablyfresh_dagster.generator.config import GeneratorConfig
        from probablyfresh_dagster.generator.writing import generate
        from probablyfresh_dagster.settings import Settings

        settings = Settings(
            profile="local", state_dir=Path({str(tmp_path / "state")!r}), data_dir=Path({str(tmp_path / "data")!r})
        )
        generate(GeneratorConfig(), settings.data_dir)
        defs = build_definitions(settings)
        stages = ["stores_mongo_collection", "stores_kafka_topic"]
        with dg.DagsterInstance.ephemeral() as instance:
            job = defs.resolve_job_def("pipeline")
            assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(s) for s in stages]).success
            assert "pandas" not in sys.modules, "imported before the RAW load"
            loads = [dg.AssetKey("stores_clickhouse_raw"), dg.AssetKey("stores_mart")]
            result = job.execute_in_process(instance=instance, asset_selection=loads)
            assert result.success
        print(result.asset_materializations_for_node("stores_clickhouse_raw")[0].metadata["inserted"].value)
        print("pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    inserted, pandas_imported = done.stdout.split()[-2:]
    assert (int(inserted), pandas_imported) == (45, "False")
