"""The local instance keeps its event log databases open, and is otherwise Dagster's.

Runs on the instance `make run` makes (infra/dagster/local.yaml), compared in the same test with
Dagster's own `SqliteEventLogStorage` on the same files.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log import SqliteEventLogStorage

from probablyfresh_dagster.local_runs.instance import (
    OPEN_DATABASES,
    POOL_POLL_SECONDS,
    LocalInstance,
    PooledSqliteEventLogStorage,
)
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL

from .support import local_dagster_home, wait_for


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return local_dagster_home(tmp_path)


@pytest.fixture
def event_logs(home: Path) -> str:
    """Where Dagster's default storage keeps the event log databases."""
    return str(home / "history" / "runs")


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"count": 3}, check_results=[dg.AssetCheckResult(passed=True)])


def connections_opened(instance: dg.DagsterInstance) -> Counter[str]:
    """SQLite connections `instance` opens for a second run of `numbers`, by database file name."""
    assert dg.materialize([numbers], instance=instance).success
    opened: Counter[str] = Counter()

    def count(dbapi_connection, _record) -> None:
        (_, _, path), *_ = dbapi_connection.execute("PRAGMA database_list").fetchall()
        opened[Path(path).name] += 1

    sa.event.listen(sa.pool.Pool, "connect", count)
    try:
        assert dg.materialize([numbers], instance=instance).success
    finally:
        sa.event.remove(sa.pool.Pool, "connect", count)
    return opened


def log_entry(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(error_info=None, level="INFO", user_message=message, run_id=run_id, timestamp=time.time())


def test_the_local_instance_uses_it_in_dagsters_own_folder(home: Path, event_logs: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for instance in (dg.DagsterInstance.get(), dg.DagsterInstance.from_config(str(home))):
        assert type(instance) is LocalInstance
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        assert instance.event_log_storage._base_dir == event_logs
    assert (home / "history" / "runs.db").is_file()  # the run storage: Dagster's default, unchanged


def test_a_run_opens_each_database_once_where_dagsters_opens_one_per_statement(home: Path, tmp_path: Path):
    instance = dg.DagsterInstance.from_config(str(home))
    pooled = connections_opened(instance)
    run, _ = instance.get_runs()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    del settings["instance_class"]
    (plain_home := tmp_path / "plain").mkdir()
    (plain_home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    plain = dg.DagsterInstance.from_config(str(plain_home))
    assert type(plain.event_log_storage) is SqliteEventLogStorage
    dagsters = connections_opened(plain)

    # Every statement on the run's database shares one connection; creating it takes a second,
    # on which Dagster's migration check inspects it. The index stays open from the first run:
    # what it still opens are Dagster's `has_table` checks, which make an engine of their own.
    (plain_run, _) = plain.get_runs()
    assert pooled[f"{run.run_id}.db"] == 2 and dagsters[f"{plain_run.run_id}.db"] > 10, (pooled, dagsters)
    assert 4 * pooled["index.db"] < dagsters["index.db"], (pooled, dagsters)
    latest = instance.get_latest_materialization_event(numbers.key)
    materialization = latest and latest.asset_materialization
    assert materialization and materialization.metadata["count"] == dg.MetadataValue.int(3)


def test_reads_see_what_another_storage_committed_meanwhile(event_logs: str):
    reader, writer = (PooledSqliteEventLogStorage(event_logs) for _ in range(2))
    assert reader.get_logs_for_run("run-a") == []  # the reader's connection to run-a is open from here on

    writer.store_event(log_entry("run-a", "first"))
    writer.store_event(log_entry("run-a", "second"))

    assert [entry.user_message for entry in reader.get_logs_for_run("run-a")] == ["first", "second"]


def open_databases(base_dir: Path) -> set[str]:
    return {
        Path(f.path).name for f in psutil.Process().open_files() if Path(f.path).parent == base_dir and f.path.endswith(".db")
    }


def test_only_the_last_databases_used_stay_open_and_dispose_closes_them(event_logs: str):
    storage = PooledSqliteEventLogStorage(event_logs)
    runs = [f"run-{number}" for number in range(OPEN_DATABASES + 3)]
    for run_id in runs:
        storage.store_event(log_entry(run_id, "hello"))
        storage.get_logs_for_run(run_id)

    assert open_databases(Path(event_logs)) == {f"{run_id}.db" for run_id in runs[-OPEN_DATABASES:]}
    assert all(len(storage.get_logs_for_run(run_id)) == 1 for run_id in runs)  # the closed ones reopen

    storage.dispose()
    assert open_databases(Path(event_logs)) == set()


def test_after_a_wipe_new_events_land_in_the_new_files(event_logs: str):
    storage = PooledSqliteEventLogStorage(event_logs)
    storage.store_event(log_entry("run-a", "before the wipe"))

    storage.wipe()
    storage.store_event(log_entry("run-a", "after the wipe"))

    assert [entry.user_message for entry in PooledSqliteEventLogStorage(event_logs).get_logs_for_run("run-a")] == [
        "after the wipe"
    ]


@dg.asset(pool=CLICKHOUSE_POOL)
def in_the_pool() -> None:
    pass


def test_a_run_waits_for_the_pool_without_using_the_cpu_and_starts_once_the_slot_is_free(home: Path):
    """A run of an asset in the `clickhouse` pool, started while another run's step holds the slot,
    uses (almost) no CPU while it waits (Dagster's own executor loop kept a core busy), and runs
    once the slot is freed."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        outcome: list[bool | BaseException] = []

        def run_in_the_pool() -> None:
            try:
                outcome.append(dg.materialize([in_the_pool], instance=instance).success)
            except BaseException as error:
                outcome.append(error)
                raise

        with InstanceConcurrencyContext(instance, DagsterRun(job_name="holder")) as holder:
            assert holder.claim(CLICKHOUSE_POOL, "raw")
            waiting = threading.Thread(target=run_in_the_pool)
            waiting.start()
            try:
                pool = instance.event_log_storage.get_concurrency_info
                wait_for(lambda: pool(CLICKHOUSE_POOL).pending_step_count > 0, 60, "the run to ask for the slot")
                cpu, wall = time.process_time(), time.monotonic()
                time.sleep(4 * POOL_POLL_SECONDS)
                assert (time.process_time() - cpu) / (time.monotonic() - wall) < 0.25
                assert waiting.is_alive() and not outcome
            finally:
                holder.free_step("raw")
                waiting.join(timeout=120)
        assert outcome == [True]
