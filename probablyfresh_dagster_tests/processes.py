"""Real platform processes for the tests that kill them: `make run` and `make dev` as subprocesses
on a temporary instance and state, ClickHouse steps that get stuck on demand, and what is left
of a process session after a kill.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg

T = TypeVar("T")

STUCK_CLICKHOUSE = Path(__file__).parent / "stuck_clickhouse"


def local_env(root: Path) -> dict[str, str]:
    """The environment of `make run` / `make dev` on a fresh instance and state under `root`."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PROBABLYFRESH_STATE": str(root / "state"),
        "PROBABLYFRESH_DATA": str(root / "data"),
    }
    env.pop("FERNET_KEY", None)
    return env


def with_stuck_clickhouse(env: dict[str, str], marker: Path) -> dict[str, str]:
    """`env` in which the first ClickHouse step writes its pid to `marker` and never ends
    (see stuck_clickhouse/sitecustomize.py)."""
    python_path = os.pathsep.join(p for p in (str(STUCK_CLICKHOUSE), env.get("PYTHONPATH")) if p)
    return {**env, "PYTHONPATH": python_path, "PROBABLYFRESH_TEST_STUCK_CLICKHOUSE": str(marker)}


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """The first truthy value of `condition()`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stuck_step_pid(marker: Path, timeout: float = 180) -> int:
    """The pid of the stuck ClickHouse step, once it holds the `clickhouse` pool slot."""
    return int(wait_for(lambda: marker.exists() and marker.read_text(), timeout, "a stuck ClickHouse step"))


def pool_holders(instance: dg.DagsterInstance, pool: str = "clickhouse") -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots}


def session_processes(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes in the given sessions."""
    return [
        pid
        for pid, (state, _, session) in _processes().items()
        if session in sessions and state not in ("Z", "X")
    ]


def descendant_sessions(root: int) -> set[int]:
    """The sessions of `root` and of every process descending from it."""
    processes = _processes()
    family = {root}
    while children := {pid for pid, (_, ppid, _) in processes.items() if ppid in family} - family:
        family |= children
    return {processes[pid][2] for pid in family if pid in processes}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
