"""A platform in a temporary folder as tests build it (embedded backends unless overridden), and
what tests read of it and of its runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from probablyfresh_dagster.assets.sharding import every_shard
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.settings import Settings

LOAD_PURCHASES = "purchases_mongo_collection purchases_kafka_topic purchases_clickhouse_raw purchases_mart"


@dataclass
class Platform:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def resource(self, name: str) -> Any:
        resources = self.defs.resources
        assert resources is not None  # make_platform always gives the profile's resources
        return resources[name]

    def run(self, selection: str | None = None, **generator) -> dg.ExecuteInProcessResult:
        """Run the pipeline job (or a subset of its assets) in process, failures returned, not raised."""
        job = self.defs.resolve_job_def("pipeline")
        return job.execute_in_process(
            instance=self.instance,
            run_config={"ops": {"generated_json_files": {"config": generator}}} if selection is None else None,
            asset_selection=[dg.AssetKey(s) for s in selection.split()] if selection else None,
            tags=every_shard(self.settings.shards),
            raise_on_error=False,
        )

    def check(self, **expectations) -> dg.ExecuteInProcessResult:
        """Run the checks job, with `expectations` set as the launchpad sets them (run config)."""
        run_config = {"resources": {"expectations": {"config": expectations}}} if expectations else None
        job = self.defs.resolve_job_def("checks")
        return job.execute_in_process(instance=self.instance, run_config=run_config, raise_on_error=False)


def make_platform(root: Path, shards: int = 1, **resources: dg.ConfigurableResource) -> Platform:
    """The local profile's platform in `shards` shards, with `resources` replacing the embedded
    ones of those names; its runs load every shard."""
    settings = Settings(profile="local", state_dir=root / "state", data_dir=root / "data", shards=shards)
    return Platform(settings, build_definitions(settings, **resources), dg.DagsterInstance.ephemeral())


@contextmanager
def local_platform(root: Path) -> Iterator[Platform]:
    """A platform on the local dev key (FERNET_KEY unset while it is in use)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("FERNET_KEY", raising=False)
        yield make_platform(root)


def copied_platform(source: Path, root: Path) -> Platform:
    """A platform under `root` on a copy of the state and landing zone of the one under `source`:
    a test that changes a materialized state starts from a copy instead of running the pipeline
    again. Nothing in a run reads the Dagster instance's history, so a fresh one is equivalent."""
    for folder in ("state", "data"):
        shutil.copytree(source / folder, root / folder, symlinks=True)
    with local_platform(root) as platform:
        return platform


def rows(platform: Platform, sql: str, **parameters) -> list[tuple]:
    """Query the platform's ClickHouse (tests only; the product's SQL lives in infra/clickhouse)."""
    with platform.resource("clickhouse").client() as client:
        return client.query(sql, parameters=parameters).result_rows


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.asset_check_key.to_user_string(): c for c in result.get_asset_check_evaluations()}


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key and e.asset_key.to_user_string() == asset]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def table_rows(table: dg.TableMetadataValue) -> list[tuple]:
    """A table metadata value's column names, then its records' values, as tuples."""
    return [tuple(column.name for column in table.schema.columns), *(tuple(r.data.values()) for r in table.records)]


def triple_purchase_files(platform: Platform) -> None:
    """Copy every purchase file twice under new names: the same purchases from new sources."""
    folder = platform.settings.data_dir / "purchases"
    for path in sorted(folder.glob("*.json")):
        for copy in ("copy1", "copy2"):
            shutil.copy(path, folder / f"{path.stem}-{copy}.json")
