"""The fixtures: a platform in a temporary folder, the state of one whole run shared by the tests
that only read it, and the real servers, started once per session (per xdist worker) for the
tests marked `servers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .platforms import Platform, loaded_platform, make_platform
from .processes import make_run
from .run_state import delivery_figures, marts
from .servers import running
from .support import local_run_env


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.delenv("FERNET_KEY", raising=False)
    return make_platform(tmp_path)


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """A platform after one whole run, for the tests that only read it: they must leave it as
    they found it (its state is shared by every such test of the worker)."""
    return loaded_platform(tmp_path_factory.mktemp("loaded"))


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The MARTs and delivery figures of a `make run` that nothing interrupted."""
    root = tmp_path_factory.mktemp("clean")
    env = local_run_env(root)
    assert make_run(env, root / "run.log") == 0, (root / "run.log").read_text()[-3000:]
    return marts(root / "state"), delivery_figures(root / "state")


@pytest.fixture(scope="session")
def kafka_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session broker's folder (infra/testservers/start-kafka.sh: `port`, `host_port`, `server.log`)."""
    workdir = tmp_path_factory.mktemp("kafka")
    with running("kafka", workdir):
        yield workdir


@pytest.fixture(scope="session")
def kafka_port(kafka_dir: Path) -> int:
    """The listener the stack's own services use (`kafka:9092`): no authentication."""
    return int((kafka_dir / "port").read_text())


@pytest.fixture(scope="session")
def ferretdb_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running("ferretdb", tmp_path_factory.mktemp("ferretdb")) as port:
        yield port
