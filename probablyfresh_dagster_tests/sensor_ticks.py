"""Ticks of `catch_up_sensor` driven by a test on a platform's instance (no daemon, no interval),
runs of what it requests, and run records standing for runs a daemon queued or lost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.sensors import ENTITY_TAG, catch_up_sensor

from .platforms import Platform

LOAD_ALL_MONGO = " ".join(e.asset_name(Stage.MONGO_COLLECTION) for e in ENTITIES)
SENSOR_RESOURCES = ("files", "mongo", "kafka", "clickhouse")


@dataclass(frozen=True)
class Tick:
    requests: list[dg.RunRequest]
    skip_message: str
    """Empty when the tick requested runs."""
    cursor: str | None

    def __str__(self) -> str:
        return self.skip_message or "requested " + ", ".join(entities(self))


def tick(platform: Platform, cursor: str | None = None) -> Tick:
    context = dg.build_sensor_context(
        instance=platform.instance,
        resources={name: platform.resource(name) for name in SENSOR_RESOURCES},
        definitions=platform.defs,
        cursor=cursor,
    )
    result = catch_up_sensor(context)
    if isinstance(result, dg.SkipReason):
        return Tick([], result.skip_message or "", context.cursor)
    assert isinstance(result, list)
    return Tick(result, "", context.cursor)


def requested(result: Tick) -> list[dg.RunRequest]:
    assert result.requests, f"nothing requested: {result.skip_message}"
    return result.requests


def entities(result: Tick) -> list[str]:
    return [request.tags[ENTITY_TAG] for request in result.requests]


def selected(request: dg.RunRequest) -> set[str]:
    assert request.asset_selection is not None
    return {key.to_user_string() for key in request.asset_selection}


def run_request(platform: Platform, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run what the sensor requested in this process, as the daemon would launch it."""
    assert request.job_name is not None and request.asset_selection is not None
    return platform.defs.resolve_job_def(request.job_name).execute_in_process(
        instance=platform.instance, asset_selection=list(request.asset_selection), tags=request.tags, raise_on_error=False
    )


def add_purchase(platform: Platform, purchase_id: str) -> None:
    """A new purchase file: a copy of the first one under another id."""
    folder = platform.settings.data_dir / "purchases"
    body = json.loads((folder / "ord-00001.json").read_text(encoding="utf-8"))
    body["purchase_id"] = purchase_id
    (folder / f"{purchase_id}.json").write_text(json.dumps(body), encoding="utf-8")


def chdb_lock(platform: Platform) -> Path:
    """The file lock every chDB client of the platform opens under (see `ClickHouseResource`)."""
    folder = Path("/" + platform.resource("clickhouse").dsn.removeprefix("chdb:///").lstrip("/"))
    return folder.with_name(folder.name + ".lock")


REPOSITORY_ORIGIN = RemoteRepositoryOrigin(
    InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="probablyfresh_dagster.definitions", attribute="defs")),
    "__repository__",
)
"""Where the jobs come from. Dagster refuses a queued run without one, and builds one only
from a loaded workspace, hence the internal classes here."""


def run_record(
    platform: Platform,
    status: dg.DagsterRunStatus,
    assets: str | None,
    job: str = pipeline_job.name,
    tags: dict[str, str] | None = None,
) -> dg.DagsterRun:
    """A run of `job` recorded in `status`, as the daemon queues, starts or fails one; nothing
    executes it. `assets` is its selection, None for the whole job."""
    run = dg.DagsterRun(
        job_name=job,
        status=status,
        asset_selection=frozenset(dg.AssetKey(asset) for asset in assets.split()) if assets else None,
        remote_job_origin=RemoteJobOrigin(REPOSITORY_ORIGIN, job),
        tags=tags or {},
    )
    return platform.instance.add_run(run)
