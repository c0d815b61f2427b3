"""The sensors on a real instance and the embedded backends: one change makes one run."""

import os

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import checks_job, pipeline_job
from probablyfresh_dagster.landing_folder import folder_fingerprint
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.sensors import UNFINISHED_STATUSES, json_files_sensor, kafka_lag_sensor

from .platforms import materialization

LOAD_ALL_MONGO = " ".join(e.asset_name(Stage.MONGO_COLLECTION) for e in ENTITIES)
PUBLISH_PURCHASES = "purchases_mongo_collection purchases_kafka_topic"


def _evaluate(sensor, platform, resource="files"):
    context = dg.build_sensor_context(
        instance=platform.instance, resources={resource: platform.resource(resource)}, definitions=platform.defs
    )
    return sensor(context)


def _entities(requests) -> list[str]:
    return [r.tags["probablyfresh/entity"] for r in requests]


def _selected(request: dg.RunRequest) -> set[str]:
    assert request.asset_selection is not None
    return {key.to_user_string() for key in request.asset_selection}


REPOSITORY_ORIGIN = RemoteRepositoryOrigin(
    InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="probablyfresh_dagster.definitions", attribute="defs")),
    "__repository__",
)
"""Where the jobs come from. Dagster refuses a queued run without one, and builds one only
from a loaded workspace, hence the internal classes here."""


def _run_record(platform, status: dg.DagsterRunStatus, assets: str | None, job: str = pipeline_job.name) -> dg.DagsterRun:
    """A run of `job` recorded in `status`, as the daemon queues or starts one; nothing executes
    it. `assets` is its selection, None for the whole job (as `make run` starts it)."""
    run = dg.DagsterRun(
        job_name=job,
        status=status,
        asset_selection=frozenset(dg.AssetKey(asset) for asset in assets.split()) if assets else None,
        remote_job_origin=RemoteJobOrigin(REPOSITORY_ORIGIN, job),
    )
    return platform.instance.add_run(run)


def test_a_loaded_state_requests_nothing_and_one_changed_file_one_run(platform):
    loaded = platform.run(purchases=20)
    assert loaded.success
    folder = platform.settings.data_dir / "purchases"
    recorded = materialization(loaded, "purchases_mongo_collection")["folder_fingerprint"]
    assert recorded == folder_fingerprint(folder)
    assert isinstance(_evaluate(json_files_sensor, platform), dg.SkipReason)
    assert isinstance(_evaluate(kafka_lag_sensor, platform, "kafka"), dg.SkipReason)

    path = folder / "ord-00003.json"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (request,) = _evaluate(json_files_sensor, platform)
    assert request.tags["probablyfresh/entity"] == "purchases"
    assert request.run_key == f"purchases-files-{folder_fingerprint(folder)}"
    assert _selected(request) == {
        "purchases_mongo_collection",
        "purchases_kafka_topic",
        "purchases_clickhouse_raw",
        "purchases_mart",
    }

    assert platform.run(" ".join(_selected(request))).success
    assert isinstance(_evaluate(json_files_sensor, platform), dg.SkipReason)
    assert isinstance(_evaluate(kafka_lag_sensor, platform, "kafka"), dg.SkipReason)


def test_file_sensor_requests_every_folder_never_loaded_and_none_empty(platform):
    assert isinstance(_evaluate(json_files_sensor, platform), dg.SkipReason)
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert sorted(_entities(_evaluate(json_files_sensor, platform))) == sorted(e.name for e in ENTITIES)


def test_file_sensor_sees_a_removed_file(platform):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert platform.run(LOAD_ALL_MONGO).success
    os.remove(platform.settings.data_dir / "purchases" / "ord-00003.json")
    assert _entities(_evaluate(json_files_sensor, platform)) == ["purchases"]


def test_file_sensor_sees_a_file_whose_name_is_not_utf8(platform):
    generate(GeneratorConfig(purchases=1), platform.settings.data_dir)
    assert platform.run(LOAD_ALL_MONGO).success
    folder = os.fsencode(platform.settings.data_dir / "stores")
    with open(os.path.join(folder, b"caf\xe9.json"), "wb") as handle:
        handle.write(b"{}")
    assert _entities(_evaluate(json_files_sensor, platform)) == ["stores"]


def test_file_sensor_notices_a_changed_batch_file(platform):
    generate(GeneratorConfig(purchases=5, format="jsonl"), platform.settings.data_dir)
    assert platform.run(LOAD_ALL_MONGO).success
    path = platform.settings.data_dir / "purchases" / "purchases.jsonl"
    with path.open("ab") as handle:
        handle.write(path.read_bytes().splitlines(keepends=True)[0])
    assert _entities(_evaluate(json_files_sensor, platform)) == ["purchases"]


def test_kafka_lag_sensor_requests_raw_and_mart_only_while_messages_wait(platform):
    nothing_published = _evaluate(kafka_lag_sensor, platform, "kafka")
    assert isinstance(nothing_published, dg.SkipReason)

    with platform.resource("kafka").open() as log:
        log.ensure_topic("stores")
        log.ensure_topic("products")
        log.publish("products", [OutgoingMessage("prd-1", b"{}"), OutgoingMessage("prd-2", b"{}")])

    (waiting,) = _evaluate(kafka_lag_sensor, platform, "kafka")
    assert _selected(waiting) == {"products_clickhouse_raw", "products_mart"}
    assert waiting.run_key == "products-lag-0:2"

    with platform.resource("kafka").open() as log:
        log.commit("products", CLICKHOUSE_GROUP, {0: 2})
    assert isinstance(_evaluate(kafka_lag_sensor, platform, "kafka"), dg.SkipReason)


@pytest.mark.parametrize("status", UNFINISHED_STATUSES, ids=lambda s: s.value)
def test_kafka_lag_sensor_leaves_waiting_messages_to_an_unfinished_run_that_loads_them(platform, status):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert platform.run(PUBLISH_PURCHASES).success  # a run stopped between Kafka and RAW
    _run_record(platform, status, "stores_clickhouse_raw stores_mart")
    (request,) = _evaluate(kafka_lag_sensor, platform, "kafka")
    assert request.tags["probablyfresh/entity"] == "purchases"

    loading = _run_record(platform, status, "purchases_clickhouse_raw purchases_mart")
    skipped = _evaluate(kafka_lag_sensor, platform, "kafka")
    assert isinstance(skipped, dg.SkipReason)
    assert f"run {loading.run_id} will load them" in skipped.skip_message

    platform.instance.report_run_failed(loading)
    (request,) = _evaluate(kafka_lag_sensor, platform, "kafka")
    assert request.tags["probablyfresh/entity"] == "purchases"


def test_a_run_of_the_whole_job_holds_both_sensors_back_until_it_ends(platform):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert platform.run(PUBLISH_PURCHASES).success
    path = platform.settings.data_dir / "purchases" / "ord-00003.json"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    _run_record(platform, dg.DagsterRunStatus.STARTED, None, job=checks_job.name)  # materializes nothing
    assert sorted(_entities(_evaluate(json_files_sensor, platform))) == sorted(e.name for e in ENTITIES)
    assert _entities(_evaluate(kafka_lag_sensor, platform, "kafka")) == ["purchases"]

    whole_job = _run_record(platform, dg.DagsterRunStatus.STARTED, None)
    assert isinstance(_evaluate(json_files_sensor, platform), dg.SkipReason)
    assert isinstance(_evaluate(kafka_lag_sensor, platform, "kafka"), dg.SkipReason)

    platform.instance.report_run_canceled(whole_job)
    assert sorted(_entities(_evaluate(json_files_sensor, platform))) == sorted(e.name for e in ENTITIES)
    assert _entities(_evaluate(kafka_lag_sensor, platform, "kafka")) == ["purchases"]
