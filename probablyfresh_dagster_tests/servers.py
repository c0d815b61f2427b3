"""Real Kafka, FerretDB (MongoDB wire protocol) and PostgreSQL for the tests, and the compose binary,
through infra/testservers/.

The scripts install the servers once (cached), start them on 127.0.0.1 with their data in a
temporary folder, and fail with the server's log when it does not answer. Here, a server that
cannot start fails the tests using it; only outside CI, and only when the tools to build it
(Java and Maven, or Go) are missing, are those tests skipped instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from filelock import FileLock

from probablyfresh_dagster.settings import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "infra" / "testservers"
# Where infra/testservers/common.sh keeps what it builds.
CACHE = Path(os.environ.get("TESTSERVERS_CACHE", PROJECT_ROOT / ".cache" / "testservers"))
# Backends of the contract suites that run on a real server, not in process.
REAL_SERVERS = {"ferretdb", "kafka"}
# What each server or tool in infra/testservers/ needs to be built or started with.
TOOLS = {"kafka": ("java", "mvn", "go"), "ferretdb": ("go", "setpriv"), "postgres": ("setpriv",), "compose": ("go",)}
# A server started from what another one installs: docker-compose.yml's kafka-cluster profile runs
# the `kafka` service's broker three times.
INSTALLED_AS = {"kafka-cluster": "kafka"}


def backend_params(backends: dict) -> list:
    """One fixture parameter per backend; those on a real server are marked `servers`."""
    return [pytest.param(name, marks=pytest.mark.servers) if name in REAL_SERVERS else name for name in sorted(backends)]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, needed_by: str) -> str:
    """The tool's path; a missing tool fails in CI and skips the test elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{needed_by} needs `{name}`, which is not installed"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def require_build_tools(name: str) -> None:
    for tool in TOOLS[name]:
        require_tool(tool, name)


def installed(name: str) -> Path:
    """The path infra/testservers/install-NAME.sh prints once it has built NAME (cached)."""
    require_build_tools(name)
    # `make test-servers` installs everything before pytest starts; without it, two xdist workers
    # would build the same binary into the same place at once.
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(CACHE / f"install-{name}.lock"):
        result = subprocess.run([SCRIPTS / f"install-{name}.sh"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{name} did not install:\n{result.stdout}{result.stderr}", pytrace=False)
    return Path(result.stdout.strip())


@contextmanager
def running(server: str, workdir: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """Start `server` ("kafka", "kafka-cluster", "ferretdb" or "postgres") with its data in
    `workdir` and `env` added to its script's environment; yield its port (a cluster's: its first
    broker's); stop it."""
    software = INSTALLED_AS.get(server, server)
    if (SCRIPTS / f"install-{software}.sh").exists():
        installed(software)  # the start script installs it too, not under the lock
    else:
        require_build_tools(software)
    # start-kafka.sh resolves docker-compose.yml with this interpreter (see kafka_compose.py).
    environment = os.environ | {"TESTSERVERS_PYTHON": sys.executable} | (env or {})
    started = subprocess.run([SCRIPTS / f"start-{server}.sh", workdir], capture_output=True, text=True, env=environment)
    if started.returncode != 0:
        pytest.fail(f"{server} did not start:\n{started.stdout}{started.stderr}", pytrace=False)
    try:
        yield int((workdir / "port").read_text())
    finally:
        subprocess.run([SCRIPTS / "stop.sh", workdir], check=True)
