"""A platform in a temporary folder as tests build it (embedded backends unless overridden),
and the real servers, started once per session for the tests marked `servers`."""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings

from .servers import running

# Backends of the contract suites that run on a real server, not in process.
REAL_SERVERS = {"ferretdb", "kafka"}


@dataclass
class Platform:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def resource(self, name: str):
        return self.defs.resources[name]

    def run(self, selection: str | None = None, **generator) -> dg.ExecuteInProcessResult:
        """Run the pipeline job (or a subset of its assets) in process, failures returned, not raised."""
        job = self.defs.resolve_job_def("pipeline")
        return job.execute_in_process(
            instance=self.instance,
            run_config={"ops": {"generated_json_files": {"config": generator}}} if selection is None else None,
            asset_selection=[dg.AssetKey(s) for s in selection.split()] if selection else None,
            raise_on_error=False,
        )

    def check(self, **expectations) -> dg.ExecuteInProcessResult:
        """Run the checks job, with `expectations` set as the launchpad sets them (run config)."""
        run_config = {"resources": {"expectations": {"config": expectations}}} if expectations else None
        job = self.defs.resolve_job_def("checks")
        return job.execute_in_process(instance=self.instance, run_config=run_config, raise_on_error=False)


def make_platform(root: Path, **resources: dg.ConfigurableResource) -> Platform:
    """The local profile's platform, with `resources` replacing the embedded ones of those names."""
    settings = Settings(profile="local", state_dir=root / "state", data_dir=root / "data")
    return Platform(settings, build_definitions(settings, **resources), dg.DagsterInstance.ephemeral())


@contextmanager
def local_platform(root: Path) -> Iterator[Platform]:
    """A platform on the local dev key (FERNET_KEY unset while it is in use)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("FERNET_KEY", raising=False)
        yield make_platform(root)


def loaded_platform(root: Path) -> Platform:
    """A platform after one successful run of the whole pipeline (for module-scoped fixtures)."""
    with local_platform(root) as platform:
        assert platform.run().success
    return platform


def use_local_state(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `make run`'s entry point (and any `Settings.from_env`) at `root`: the state and data
    folders a `make_platform(root)` uses, and a DAGSTER_HOME with the local instance's settings."""
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "infra" / "dagster" / "local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PROBABLYFRESH_STATE", str(root / "state"))
    monkeypatch.setenv("PROBABLYFRESH_DATA", str(root / "data"))
    monkeypatch.delenv("FERNET_KEY", raising=False)


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.delenv("FERNET_KEY", raising=False)
    return make_platform(tmp_path)


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


def backend_params(backends: dict) -> list:
    """One fixture parameter per backend; those on a real server are marked `servers`."""
    return [pytest.param(name, marks=pytest.mark.servers) if name in REAL_SERVERS else name for name in sorted(backends)]


def rows(platform: Platform, sql: str, **parameters) -> list[tuple]:
    """Query the platform's ClickHouse (tests only; the product's SQL lives in infra/clickhouse)."""
    with platform.resource("clickhouse").client() as client:
        return client.query(sql, parameters=parameters).result_rows


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.asset_check_key.to_user_string(): c for c in result.get_asset_check_evaluations()}


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def table_rows(table: dg.TableMetadataValue) -> list[tuple]:
    """A table metadata value's column names, then its records' values, as tuples."""
    return [tuple(column.name for column in table.schema.columns), *(tuple(r.data.values()) for r in table.records)]


def run_in_processes(target, argument_tuples: list[tuple]) -> None:
    """Run `target` once per argument tuple, each in its own spawned process, all at once."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=target, args=args) for args in argument_tuples]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)


def triple_purchase_files(platform: Platform) -> None:
    """Copy every purchase file twice under new names: the same purchases from new sources."""
    folder = platform.settings.data_dir / "purchases"
    for path in sorted(folder.glob("*.json")):
        for copy in ("copy1", "copy2"):
            shutil.copy(path, folder / f"{path.stem}-{copy}.json")
