"""`make dev` as a user runs it: the real webserver, daemon and code server on 127.0.0.1, a
temporary instance and state, runs launched through the UI's GraphQL API.

The run's first ClickHouse step gets stuck on demand (see processes.with_stuck_clickhouse), deaf
to SIGINT and SIGTERM: it holds the `clickhouse` pool slot, and it keeps its run, and so the code
server, from stopping on their own.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster_graphql import DagsterGraphQLClient

from probablyfresh_dagster.settings import PROJECT_ROOT

from .processes import (
    command_line,
    descendant_sessions,
    kill,
    pool_holders,
    session_processes,
    stuck_step_pid,
    webserver_answers,
    with_stuck_clickhouse,
)
from .support import free_port, local_env, wait_for

# `make dev` runs in the repository, and rebuilds its venv when that is older than the lock: two
# xdist workers must not do so at once (make test has built it first; a bare pytest may not have).
pytestmark = pytest.mark.xdist_group("make_dev")

STARTUP_TIMEOUT_SECONDS = 180
CTRL_C_LIMIT_SECONDS = 10
MONITORING_TIMEOUT_SECONDS = 90


@dataclass
class DevServer:
    make: subprocess.Popen
    port: int
    home: Path
    stuck_marker: Path
    log: Path

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def launch_clickhouse_step(self) -> str:
        """A run of one ClickHouse asset, as "Materialize" on it in the UI; its step gets stuck."""
        client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        return client.submit_job_execution(
            "pipeline",
            repository_location_name="probablyfresh",
            repository_name="__repository__",
            asset_selection=["stores_clickhouse_raw"],
        )

    def sessions(self) -> set[int]:
        """`make`'s session and `dagster dev`'s (the wrapper starts it in its own)."""
        return descendant_sessions(self.make.pid)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    port = free_port()
    marker = tmp_path / "stuck"
    env = with_stuck_clickhouse(local_env(tmp_path), marker) | {"DAGSTER_CLI_DEV_PORT": str(port)}
    log = tmp_path / "make-dev.log"
    with log.open("w") as sink:
        make = subprocess.Popen(
            ["make", "dev"], cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = DevServer(make, port, tmp_path / "dagster_home", marker, log)
    sessions = {make.pid}
    try:
        wait_for(lambda: webserver_answers(port) or make.poll() is not None, STARTUP_TIMEOUT_SECONDS, "the webserver")
        assert make.poll() is None, log.read_text()
        sessions |= server.sessions()
        yield server
    finally:
        sessions |= server.sessions()
        for pid in session_processes(sessions):
            kill(pid)
        make.wait()


def test_make_dev_prints_no_advice_to_use_dg_dev(dev_server):
    """`dagster dev` warns that `dg dev` supersedes it, a command this project does not install."""
    output = dev_server.log.read_text()
    assert "Launching Dagster services" in output  # what `dagster dev` logs as it starts
    assert "dg dev" not in output and "superseded" not in output


def test_run_monitoring_fails_a_killed_run_and_frees_its_pool_slot(dev_server):
    run_id = dev_server.launch_clickhouse_step()
    step_pid = stuck_step_pid(dev_server.stuck_marker)
    instance = dev_server.instance()
    assert pool_holders(instance) == {run_id}
    worker_pid = _run_worker_pid(instance, run_id)
    code_server_pid = psutil.Process(worker_pid).ppid()

    # The code server goes first, as when `make dev` itself is killed: it would otherwise notice
    # its run's process exit and fail the run itself; now only run monitoring can.
    killed_at = time.monotonic()
    for pid in dict.fromkeys((code_server_pid, worker_pid, step_pid)):  # the step runs in the worker on the local profile
        os.kill(pid, signal.SIGKILL)
    # Dagster frees the run's slots, then forgets its steps waiting for one: wait for both.
    wait_for(
        lambda: (
            instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            and not pool_holders(instance)
            and run_id not in instance.event_log_storage.get_concurrency_run_ids()
        ),
        MONITORING_TIMEOUT_SECONDS,
        "the daemon to fail the run and free its slot",
    )
    print(f"run failed and slot freed {time.monotonic() - killed_at:.1f} s after the kill")

    (failure,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert f"the run's process (pid {worker_pid}) is gone" in failure.message
    assert run_id not in instance.event_log_storage.get_concurrency_run_ids()


def test_ctrl_c_stops_every_process_of_make_dev_within_10_s(dev_server):
    dev_server.launch_clickhouse_step()
    stuck_step_pid(dev_server.stuck_marker)
    sessions = dev_server.sessions()
    assert len(sessions) == 2 and session_processes(sessions)

    interrupted_at = time.monotonic()
    os.killpg(dev_server.make.pid, signal.SIGINT)  # what Ctrl-C does to the terminal's foreground job
    try:
        wait_for(lambda: not session_processes(sessions), CTRL_C_LIMIT_SECONDS, "make dev to stop")
    except AssertionError:
        left = [command_line(pid) for pid in session_processes(sessions)]
        pytest.fail(f"still running {CTRL_C_LIMIT_SECONDS} s after Ctrl-C: {left}")
    print(f"make dev stopped {time.monotonic() - interrupted_at:.1f} s after Ctrl-C")

    # The umask of `make dev`: what Dagster wrote in DAGSTER_HOME (run history, logs) is owner-only.
    written = [path for path in dev_server.home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in written)
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode) & 0o077) for path in written} == {
        path.name: "0o0" for path in written
    }


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    """The pid of the process the code server started for the run, from its engine event."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        found = re.match(r"Started process for run \(pid: (\d+)\)", entry.message)
        if found:
            return int(found.group(1))
    raise AssertionError("the run reported no process")
