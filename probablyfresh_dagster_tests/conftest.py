"""The fixtures: a platform in a temporary folder, the state of one whole run shared by the tests
that only read it, and the real servers, started once per session (per xdist worker) for the
tests marked `servers`."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from _pytest.nodeid import NodeId
from filelock import FileLock

from .platforms import Platform, copied_platform, local_platform, make_platform
from .processes import make_run
from .run_state import delivery_figures, marts
from .servers import running
from .support import local_run_env

# A server the tests leave unreachable on purpose fails its step after 3 s of retries, not the
# 90 s a platform waits for a server to come back (the tests of that wait set their own budget);
# set here so that every process the tests start inherits it.
os.environ.setdefault("PROBABLYFRESH_RETRY_SECONDS", "3")


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.delenv("FERNET_KEY", raising=False)
    return make_platform(tmp_path)


# The fixtures that materialize a state once for several tests (`loaded_run` for the whole
# session, the others for their module). Under xdist (`--dist loadgroup`) the tests using one of
# them go to one worker, so that it is materialized once, not once per worker (the first name
# of the list a test uses names its group: a test on a copy of `loaded_run` goes with it).
SHARED_STATES = ("loaded_run", "rejected", "judged", "matched", "failed_platform", "served", "caught_up_platform", "healing")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    # The tests marked `slow` first: xdist hands out the groups, then the other tests in this
    # order, so the longest start early and both workers finish at about the same time.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        shared = [name for name in SHARED_STATES if name in getattr(item, "fixturenames", ())]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
    yield
    if config.getoption("loadgroup", default=False):
        for item in items:
            _name_its_group(item)


def _name_its_group(item: pytest.Item) -> None:
    """Suffix the test's id with its xdist group, as pytest-xdist's own hook (which ran just
    before) means to: `--dist loadgroup` groups tests by that suffix. pytest 9.2 keeps the id in
    `_id`, and xdist 3.8 still writes `_nodeid`, so without this no group held together and each
    worker materialized every shared state (pytest-dev/pytest-xdist#1386)."""
    groups = sorted(
        {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default")) for mark in item.iter_markers("xdist_group")}
    )
    suffix = f"@{'_'.join(groups)}"
    if groups and not item.nodeid.endswith(suffix):
        item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="session")
def loaded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Platform, dg.ExecuteInProcessResult]:
    """One whole run of the pipeline, shared by the tests that only read its state or its result:
    they must leave the state as they found it."""
    with local_platform(tmp_path_factory.mktemp("loaded")) as platform:
        result = platform.run()
    assert result.success
    return platform, result


@pytest.fixture(scope="session")
def loaded(loaded_run: tuple[Platform, dg.ExecuteInProcessResult]) -> Platform:
    return loaded_run[0]


@pytest.fixture
def loaded_copy(loaded: Platform, tmp_path: Path) -> Platform:
    """What `platform.run()` leaves, as a copy of `loaded`: for a test that changes it."""
    return copied_platform(loaded.settings.state_dir.parent, tmp_path)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The MARTs and delivery figures of a `make run` that nothing interrupted: made once for the
    whole session, whichever worker asks first (the crash cases run on every worker)."""
    session_dir = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        session_dir = session_dir.parent  # the workers' common folder (each has its own below it)
    shared = session_dir / "clean_run.pickle"
    with FileLock(shared.with_suffix(".lock")):
        if not shared.exists():
            root = tmp_path_factory.mktemp("clean")
            env = local_run_env(root)
            assert make_run(env, root / "run.log") == 0, (root / "run.log").read_text()[-3000:]
            shared.write_bytes(pickle.dumps((marts(root / "state"), delivery_figures(root / "state"))))
        return pickle.loads(shared.read_bytes())


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
