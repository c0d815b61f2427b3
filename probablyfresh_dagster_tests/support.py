"""Plain helpers the tests share: a local instance and environment as `make run` sets them up
under a temporary folder, free loopback ports, polling, and spawned processes."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from probablyfresh_dagster.settings import PROJECT_ROOT

T = TypeVar("T")

LOCAL_INSTANCE = PROJECT_ROOT / "infra" / "dagster" / "local.yaml"


def local_variables(root: Path) -> dict[str, str]:
    """The instance, state and landing zone of `make run` under `root`."""
    return {
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PROBABLYFRESH_STATE": str(root / "state"),
        "PROBABLYFRESH_DATA": str(root / "data"),
    }


def local_env(root: Path) -> dict[str, str]:
    """The environment of `make run` / `make dev` on a fresh instance and state under `root`, on
    the local dev key (the instance's folder is not made: `make` makes it, or `local_dagster_home`)."""
    env = os.environ | local_variables(root)
    # Not a sub-make of the `make test` running the suite: it would print "Entering directory".
    for variable in ("FERNET_KEY", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        env.pop(variable, None)
    return env


def local_dagster_home(root: Path) -> Path:
    """`root/dagster_home`, made with the local instance's settings as `make run` makes it."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    return home


def local_run_env(root: Path) -> dict[str, str]:
    """`local_env(root)` with its instance's folder made."""
    local_dagster_home(root)
    return local_env(root)


def use_local_state(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `make run`'s entry point (and any `Settings.from_env`) at `root`: the state and data
    folders a `make_platform(root)` uses, and a DAGSTER_HOME with the local instance's settings."""
    local_dagster_home(root)
    for name, value in local_variables(root).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FERNET_KEY", raising=False)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on loopback right now (the kernel picks them)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    (port,) = free_ports(1)
    return port


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """The first truthy value of `condition()`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_in_processes(target, argument_tuples: list[tuple]) -> None:
    """Run `target` once per argument tuple, each in its own spawned process, all at once."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=target, args=args) for args in argument_tuples]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)
