"""`make run` killed while it holds the `clickhouse` pool slot never blocks the next run.

The runs are real `make run` processes (`python -m probablyfresh_dagster.run`, each in its own
process group like a terminal's job) on a temporary instance; their first ClickHouse step gets
stuck on demand (see processes.with_stuck_clickhouse), so the test knows the slot is held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from probablyfresh_dagster.local_runs.dead_runs import RunProcess, is_alive
from probablyfresh_dagster.settings import PROJECT_ROOT

from .processes import MAKE_RUN, pool_holders, start_make_run, stuck_step_pid, with_stuck_clickhouse
from .support import local_dagster_home, local_env, wait_for

RUN_TIMEOUT_SECONDS = 240


def local_instance(root: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(local_dagster_home(root)))


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_the_next_make_run_fails_a_killed_run_and_frees_its_pool_slot(tmp_path):
    instance = local_instance(tmp_path)
    env = local_env(tmp_path)
    killed = start_make_run(with_stuck_clickhouse(env, tmp_path / "stuck"), tmp_path / "killed.out")
    assert stuck_step_pid(tmp_path / "stuck") == killed.pid  # the in-process executor's step
    (dead,) = instance.get_runs()
    (slot,) = instance.event_log_storage.get_concurrency_info("clickhouse").claimed_slots
    assert slot.run_id == dead.run_id
    kill_group(killed)
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.STARTED  # left as it was

    rerun = subprocess.run(MAKE_RUN, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    notice = (
        f"run {dead.run_id} (pipeline) lost its process (pid {killed.pid}): "
        f"marked it failed and freed pool clickhouse (step {slot.step_key})"
    )
    assert rerun.stdout.splitlines()[0] == notice
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert dead.run_id not in instance.event_log_storage.get_concurrency_run_ids()


@pytest.mark.slow
def test_a_run_waiting_for_the_pool_names_the_holder_and_goes_on_when_the_holder_dies(tmp_path):
    instance = local_instance(tmp_path)
    env = local_env(tmp_path)
    holder = start_make_run(with_stuck_clickhouse(env, tmp_path / "stuck"), tmp_path / "holder.out")
    stuck_step_pid(tmp_path / "stuck")
    (holding,) = instance.get_runs()
    (slot,) = instance.event_log_storage.get_concurrency_info("clickhouse").claimed_slots

    output = tmp_path / "waiting.out"
    waiting = start_make_run(env, output)
    waiting_lines = wait_for(
        lambda: [line for line in output.read_text().splitlines() if line.startswith("waiting for pool")],
        RUN_TIMEOUT_SECONDS,
        "the line of a run waiting for the pool",
    )
    assert waiting_lines == [f"waiting for pool clickhouse: held by run {holding.run_id[:8]} (step {slot.step_key})"]
    assert holder.poll() is None and waiting.poll() is None  # a live holder, a real wait

    kill_group(holder)
    assert waiting.wait(timeout=RUN_TIMEOUT_SECONDS) == 0, output.read_text()
    assert f"run {holding.run_id} (pipeline) lost its process" in output.read_text()
    assert instance.get_run_by_id(holding.run_id).status == dg.DagsterRunStatus.FAILURE
    assert pool_holders(instance) == set()


def test_a_process_is_alive_only_if_it_is_the_one_that_reported_its_pid():
    assert is_alive(RunProcess(os.getpid(), reported_at=time.time()))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.05)
    assert not is_alive(RunProcess(child.pid, reported_at=time.time()))  # a zombie, not yet reaped
    child.wait()
    assert not is_alive(RunProcess(child.pid, reported_at=time.time()))  # gone


def test_a_reused_pid_is_not_mistaken_for_the_run_that_reported_it():
    # This process started long after a report made an hour ago: the pid was reused.
    assert not is_alive(RunProcess(os.getpid(), reported_at=time.time() - 3600))
