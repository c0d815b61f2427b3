"""Real platform processes for the tests that kill them: `make run` and `make dev` as subprocesses
on a temporary instance and state, ClickHouse steps that get stuck on demand, and what is left
of a process session after a kill.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.settings import PROJECT_ROOT

from .support import wait_for

STUCK_CLICKHOUSE = Path(__file__).parent / "stuck_clickhouse"
MAKE_RUN_MODULE = "probablyfresh_dagster.run"
MAKE_RUN = [sys.executable, "-m", MAKE_RUN_MODULE]
REACH_SECONDS = 120
RERUN_SECONDS = 240


def run_together(env: dict[str, str], root: Path, shards: list[str | None]) -> None:
    """One `told_run` per entry of `shards` (a partition key, or None for every load stage), on an
    instance whose storage is made first (two processes creating it at once trip over each other's
    CREATE TABLE: Dagster's own race), started together once all are ready; asserts that each
    succeeded (its output is in `root/run-N.log`)."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.get_runs(limit=1)
        instance.event_log_storage.get_concurrency_keys()
    go, ready = root / "go", [root / f"ready-{n}" for n in range(len(shards))]
    runs = []
    for n, (flag, shard) in enumerate(zip(ready, shards, strict=True)):
        command = [sys.executable, "-m", "probablyfresh_dagster_tests.told_run", str(flag), str(go), *([shard] if shard else [])]
        with (root / f"run-{n}.log").open("w") as log:
            runs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    wait_for(lambda: all(flag.exists() for flag in ready), REACH_SECONDS, "every run ready")
    go.touch()
    codes = [run.wait(timeout=2 * RERUN_SECONDS) for run in runs]
    assert not any(codes), "\n".join((root / f"run-{n}.log").read_text()[-3000:] for n in range(len(shards)))


def start_make_run(env: dict[str, str], log: Path, *arguments: str, module: str = MAKE_RUN_MODULE) -> subprocess.Popen:
    """`make run`'s entry point (or a test `module` wrapping it) in its own process group, its
    output in `log`."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def make_run(env: dict[str, str], log: Path) -> int:
    """Run it to the end (in RERUN_SECONDS at most); its exit code."""
    return start_make_run(env, log).wait(timeout=RERUN_SECONDS)


def kill_at(
    point: str, env: dict[str, str], root: Path, module: str = "probablyfresh_dagster_tests.crashing_run", *arguments: str
) -> None:
    """Start the crashing run (`module POINT MARKER *arguments`), wait until it reaches `point`,
    SIGKILL its process group."""
    marker, log = root / "paused", root / "crashed.log"
    marker.unlink(missing_ok=True)
    with log.open("w") as output:
        crashing = subprocess.Popen(
            [sys.executable, "-m", module, point, str(marker), *arguments],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + REACH_SECONDS
    while not marker.exists() and crashing.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert marker.exists(), f"the run never reached {point!r}:\n{log.read_text()[-3000:]}"
    finally:
        os.killpg(crashing.pid, signal.SIGKILL)
        crashing.wait()


def with_stuck_clickhouse(env: dict[str, str], marker: Path, *, hears: bool = False) -> dict[str, str]:
    """`env` in which the first ClickHouse step writes its pid to `marker` and never ends, deaf
    to SIGINT and SIGTERM unless it `hears` them (see stuck_clickhouse/sitecustomize.py)."""
    python_path = os.pathsep.join(p for p in (str(STUCK_CLICKHOUSE), env.get("PYTHONPATH")) if p)
    stuck = {"PYTHONPATH": python_path, "PROBABLYFRESH_TEST_STUCK_CLICKHOUSE": str(marker)}
    return {**env, **stuck, **({"PROBABLYFRESH_TEST_STUCK_CLICKHOUSE_HEARS": "1"} if hears else {})}


def stuck_step_pid(marker: Path, timeout: float = 180) -> int:
    """The pid of the stuck ClickHouse step, once it holds the `clickhouse` pool slot."""
    return int(wait_for(lambda: marker.exists() and marker.read_text(), timeout, "a stuck ClickHouse step"))


def pool_holders(instance: dg.DagsterInstance, pool: str = "clickhouse") -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots}


def session_processes(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes in the given sessions."""
    return [pid for pid, (state, _, session) in _processes().items() if session in sessions and state not in ("Z", "X")]


def descendant_sessions(root: int) -> set[int]:
    """The sessions of `root` and of every process descending from it."""
    processes = _processes()
    family = {root}
    while children := {pid for pid, (_, ppid, _) in processes.items() if ppid in family} - family:
        family |= children
    return {processes[pid][2] for pid in family if pid in processes}


def webserver_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except OSError:
        return False


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except (FileNotFoundError, ProcessLookupError):
        return f"{pid} (ended)"


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process's state, parent and session, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while we looked
        table[int(stat.parent.name)] = (fields[0], int(fields[1]), int(fields[3]))
    return table


def bound_unix_socket(folder: Path, name: str) -> socket.socket:
    """A unix socket bound at `folder / name`, by its relative name (a temporary folder's full path
    may pass the 108 bytes a socket path may have); close it when done."""
    unix_socket = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        unix_socket.bind(name)
    finally:
        os.chdir(cwd)
    return unix_socket
