"""`make dev` as a user runs it, in a terminal: the real webserver, daemon and code server on
127.0.0.1, a temporary instance and state, runs launched through the UI's GraphQL API.

The run's first ClickHouse step gets stuck on demand (see processes.with_stuck_clickhouse), deaf
to SIGINT and SIGTERM: it holds the `clickhouse` pool slot, and it keeps its run, and so the code
server, from stopping on their own.
"""

from __future__ import annotations

import fcntl
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

from probablyfresh_dagster.entities import ENTITIES, PURCHASES, Stage
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
from .terminal import Terminal

# `make dev` runs in the repository, and rebuilds its venv when that is older than the lock: two
# xdist workers must not do so at once (make test has built it first; a bare pytest may not have).
pytestmark = [pytest.mark.xdist_group("make_dev"), pytest.mark.slow]

STARTUP_TIMEOUT_SECONDS = 180
CTRL_C_LIMIT_SECONDS = 10
KILL_LIMIT_SECONDS = 15  # the watchdog's grace (5 s) and its SIGKILL, on a busy machine
MONITORING_TIMEOUT_SECONDS = 90
RESTART_TIMEOUT_SECONDS = 180
LONG_GENERATION = 300_000  # purchases: a run generating them lasts long enough to be terminated halfway


@dataclass
class DevServer:
    terminal: Terminal
    port: int
    home: Path
    stuck_marker: Path
    log: Path
    env: dict[str, str]
    started: float

    @property
    def make(self) -> subprocess.Popen:
        return self.terminal.process

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def launch_clickhouse_step(self) -> str:
        """A run of one ClickHouse asset, as "Materialize" on it in the UI; its step gets stuck."""
        return self.client().submit_job_execution(
            "pipeline",
            repository_location_name="probablyfresh",
            repository_name="__repository__",
            asset_selection=["stores_clickhouse_raw"],
        )

    def sessions(self) -> set[int]:
        """`make`'s session, `dagster dev`'s and its watchdog's (the wrapper starts each in its own)."""
        return descendant_sessions(self.make.pid)

    def wrapper(self) -> psutil.Process:
        """The process `make dev` execs: local_runs/dagster_dev."""
        (wrapper,) = psutil.Process(self.make.pid).children()
        assert "probablyfresh_dagster.local_runs.dagster_dev" in " ".join(wrapper.cmdline())
        return wrapper

    def processes_running(self, module: str) -> list[int]:
        """The processes of this `make dev` running `python -m <module>`."""
        return [pid for pid in session_processes(self.sessions()) if f" -m {module} " in command_line(pid)]


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    port = free_port()
    marker = tmp_path / "stuck"
    env = with_stuck_clickhouse(local_env(tmp_path), marker) | {"DAGSTER_CLI_DEV_PORT": str(port)}
    log = tmp_path / "make-dev.log"
    started = time.monotonic()
    terminal = Terminal(["make", "dev"], PROJECT_ROOT, env, log)
    make = terminal.process
    server = DevServer(terminal, port, tmp_path / "dagster_home", marker, log, env, started)
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
        terminal.close()


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


def test_a_terminated_run_ends_in_one_line_and_ctrl_c_stops_everything_within_10_s_with_exit_0(dev_server):
    dev_server.launch_clickhouse_step()
    stuck_step_pid(dev_server.stuck_marker)
    # "Terminate" in the UI, on a run generating files (long enough to be stopped halfway).
    client = dev_server.client()
    waiting = client.submit_job_execution(
        "pipeline",
        repository_location_name="probablyfresh",
        repository_name="__repository__",
        # With a step after the files: the run stops with a step it did not reach.
        asset_selection=[entity.asset_name(Stage.JSON_FILES) for entity in ENTITIES]
        + [PURCHASES.asset_name(Stage.MONGO_COLLECTION)],
        run_config={"ops": {"generated_json_files": {"config": {"purchases": LONG_GENERATION}}}},
    )
    wait_for(lambda: client.get_run_status(waiting) == dg.DagsterRunStatus.STARTED, 120, "the second run to start")
    client.terminate_run(waiting)
    wait_for(lambda: client.get_run_status(waiting) == dg.DagsterRunStatus.CANCELED, 120, "the run to be canceled")
    wait_for(
        lambda: f"{waiting} - " in dev_server.log.read_text() and "RUN_CANCELED" in dev_server.log.read_text(), 120, "its line"
    )
    sessions = dev_server.sessions()
    assert len(sessions) == 3 and session_processes(sessions)

    interrupted_at = time.monotonic()
    dev_server.terminal.press_ctrl_c()
    try:
        wait_for(lambda: not session_processes(sessions), CTRL_C_LIMIT_SECONDS, "make dev to stop")
    except AssertionError:
        left = [command_line(pid) for pid in session_processes(sessions)]
        pytest.fail(f"still running {CTRL_C_LIMIT_SECONDS} s after Ctrl-C: {left}")
    print(f"make dev stopped {time.monotonic() - interrupted_at:.1f} s after Ctrl-C")
    assert dev_server.make.wait() == 0  # not make's `Error 130`: the ^C reached the wrapper, not make
    dev_server.terminal.close()
    output = dev_server.log.read_text()
    assert "make: ***" not in output
    # The run's step was deaf to the stop: killed, and said so in one line.
    assert len(re.findall(r"make dev: killed \d+ process\(es\) of runs still running 5 s after the stop", output)) == 1
    # The canceled run: one line, not Dagster's stack trace of the interruption.
    (canceled,) = [line for line in output.splitlines() if "RUN_CANCELED" in line]
    assert waiting in canceled
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)  # without its colours
    assert [line for line in plain.splitlines() if waiting in line and " - ERROR - " in line] == [
        re.sub(r"\x1b\[[0-9;]*m", "", canceled)
    ], output  # nor the interrupted step's failure, nor the step it did not reach
    assert "Stack Trace" not in output and "DagsterExecutionInterruptedError" not in output
    # Calm: the runs' console log at INFO, no advice to use `dg dev` (a command not installed here).
    assert "Launching Dagster services" in output  # what `dagster dev` logs as it starts
    assert " - DEBUG - " not in plain
    assert "dg dev" not in output and "superseded" not in output

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


def test_a_killed_make_dev_leaves_nothing_and_a_second_one_is_refused_meanwhile(dev_server, tmp_path):
    first = dev_server.wrapper()
    second = subprocess.run(
        ["make", "dev"],
        cwd=PROJECT_ROOT,
        env=dev_server.env | {"DAGSTER_CLI_DEV_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    (refusal,) = [line for line in second.stderr.splitlines() if line.startswith("make dev:")]
    assert f"make dev is already running on this instance (DAGSTER_HOME={dev_server.home}): pid {first.pid}" in refusal
    assert f"UI on port {dev_server.port}" in refusal
    assert webserver_answers(dev_server.port)  # the first one is untouched

    sessions = dev_server.sessions()
    assert len(sessions) == 3
    killed_at = time.monotonic()
    first.kill()  # SIGKILL of the process `make dev` execs: nothing of it can clean up
    try:
        wait_for(lambda: not session_processes(sessions - {dev_server.make.pid}), KILL_LIMIT_SECONDS, "the group to stop")
    except AssertionError:
        left = [command_line(pid) for pid in session_processes(sessions)]
        pytest.fail(f"still running {KILL_LIMIT_SECONDS} s after the kill: {left}")
    print(f"make dev's processes gone {time.monotonic() - killed_at:.1f} s after its SIGKILL")
    assert not webserver_answers(dev_server.port)
    with (dev_server.home / "make-dev.lock").open() as lock:  # free again: the next make dev starts
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_killed_daemon_restarts_dagster_dev_and_leaves_no_half_stack(dev_server):
    (daemon,) = dev_server.processes_running("dagster._daemon")
    (webserver,) = dev_server.processes_running("dagster_webserver")
    # `make dev` restarts a `dagster dev` that had been up RESTART_AFTER_SECONDS (not one failing at start).
    time.sleep(max(0.0, dev_server.started + 20 - time.monotonic()))
    os.kill(daemon, signal.SIGKILL)

    wait_for(lambda: webserver not in dev_server.processes_running("dagster_webserver"), 60, "the old webserver to stop")
    wait_for(lambda: webserver_answers(dev_server.port), RESTART_TIMEOUT_SECONDS, "the restarted webserver")
    # The new stack is whole and alone: one daemon and one webserver, none of the old ones.
    (restarted,) = dev_server.processes_running("dagster._daemon")
    assert restarted != daemon and dev_server.processes_running("dagster_webserver") != [webserver]
    assert dev_server.make.poll() is None
    assert dev_server.log.read_text().count("make dev: dagster dev ended by itself") == 1
