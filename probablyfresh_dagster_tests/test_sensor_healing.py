"""A run `catch_up_sensor` requested, stopped at any step (its run worker SIGKILLed, or the run
terminated), is brought to the MART by the following ticks, without a human, exactly once.

The ticks are driven here on a real instance (DAGSTER_HOME with the local profile's settings)
instead of waiting for a daemon's interval; the run worker is a real process on that instance,
killed as `kill -9` would; what notices it dead is the product's own `fail_dead_runs`, which
`make dev`'s run monitoring and `make run` use.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.instance.config import dagster_instance_config_schema

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.landing_folder import landing_entries
from probablyfresh_dagster.local_runs.dead_runs import fail_dead_runs
from probablyfresh_dagster.sensors import ENTITY_TAG
from probablyfresh_dagster.settings import Settings

from .platforms import Platform, rows
from .processes import kill_at
from .sensor_run_worker import STOPS
from .sensor_ticks import add_purchase, requested, run_request, selected, tick
from .support import LOCAL_INSTANCE, local_dagster_home, local_run_env

WORKER = "probablyfresh_dagster_tests.sensor_run_worker"
BEHIND = {
    "mongo": {"purchases_mongo_collection", "purchases_kafka_topic", "purchases_clickhouse_raw", "purchases_mart"},
    "kafka": {"purchases_kafka_topic", "purchases_clickhouse_raw", "purchases_mart"},
    "raw": {"purchases_clickhouse_raw", "purchases_mart"},
    "mart": {"purchases_mart"},
}
"""What a run stopped in each step leaves behind: the changed folder (its fingerprint is recorded
only when the step ends), the outbox, Kafka lag, RAW past the MART's watermark."""
MAX_TICKS = 3
INSTANCE_FILES = LOCAL_INSTANCE.parent


@pytest.fixture(scope="module")
def healing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Platform, dict[str, str], Path]:
    """Purchases only (the other folders empty), loaded by the sensor's first request."""
    root = tmp_path_factory.mktemp("healing")
    env = local_run_env(root)
    settings = Settings(profile="local", state_dir=root / "state", data_dir=root / "data")
    generate(GeneratorConfig(purchases=20), settings.data_dir)
    for entity in (e for e in ENTITIES if e.name != "purchases"):
        for path in (settings.data_dir / entity.name).iterdir():
            path.unlink()
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    platform = Platform(settings, build_definitions(settings), instance)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("FERNET_KEY", raising=False)
        _heal(platform)
    return platform, env, root


def _heal(platform: Platform) -> list[set[str]]:
    """Tick and run what is requested until the sensor says up to date; the assets of each run."""
    done: list[set[str]] = []
    for _ in range(MAX_TICKS):
        result = tick(platform)
        if not result.requests:
            assert result.skip_message.startswith("Up to date"), result.skip_message
            return done
        (request,) = result.requests
        assert request.tags[ENTITY_TAG] == "purchases"
        assert run_request(platform, request).success
        done.append(selected(request))
    raise AssertionError(f"still behind after {MAX_TICKS} ticks")


@pytest.mark.parametrize(
    ("stop", "ending"),
    [*((stop, "SIGKILL") for stop in STOPS), (list(STOPS)[-1], "Terminate")],
    ids=[*(stop.split(":")[0] for stop in STOPS), "mart-terminated"],
)
def test_a_sensor_run_stopped_at_any_step_reaches_the_mart_exactly_once(healing, stop, ending, monkeypatch):
    platform, env, root = healing
    monkeypatch.delenv("FERNET_KEY", raising=False)
    add_purchase(platform, f"ord-9{len(list(landing_entries(platform.settings.data_dir / 'purchases'))):04d}")
    (request,) = requested(tick(platform))
    wanted = {"job": request.job_name, "assets": sorted(selected(request)), "tags": request.tags}
    kill_at(stop, env, root, WORKER, json.dumps(wanted))

    if ending == "SIGKILL":
        (dead,) = fail_dead_runs(platform.instance, "the test, as run monitoring would")
    else:  # the UI's Terminate of a run whose process does not answer: canceled, its slots freed
        (dead,) = platform.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        platform.instance.report_run_canceled(dead)
        platform.instance.event_log_storage.free_concurrency_slots_for_run(dead.run_id)
    assert _heal(platform) == [BEHIND[stop.split(":")[0]]]  # one run, of exactly what was behind

    files = sorted((platform.settings.data_dir / "purchases").glob("*.json"))
    ids = {json.loads(path.read_text(encoding="utf-8"))["purchase_id"] for path in files}
    assert rows(platform, "SELECT count() FROM purchases_raw") == [(len(files),)]
    assert rows(platform, "SELECT count(), uniqExact(purchase_id) FROM purchases_mart FINAL") == [(len(ids), len(ids))]


@pytest.mark.parametrize(
    ("reason", "retried"),
    [
        (RunFailureReason.UNEXPECTED_TERMINATION, True),
        (RunFailureReason.RUN_WORKER_RESTART, True),
        (None, True),  # failed by `fail_dead_runs`, which gives no reason
        (RunFailureReason.STEP_FAILURE, False),
    ],
    ids=lambda value: str(getattr(value, "value", value)),
)
def test_the_local_instance_retries_a_run_lost_with_its_process_never_a_failed_step(tmp_path, reason, retried):
    instance = dg.DagsterInstance.from_config(str(local_dagster_home(tmp_path)))
    run = instance.add_run(dg.DagsterRun(job_name="load_purchases", status=dg.DagsterRunStatus.FAILURE))
    assert auto_reexecution_should_retry_run(instance, run, reason) is retried


def test_the_compose_instance_retries_runs_as_the_local_one():
    compose, local = (yaml.safe_load((INSTANCE_FILES / name).read_text()) for name in ("dagster.yaml", "local.yaml"))
    assert (
        compose["run_retries"]
        == local["run_retries"]
        == {
            "enabled": True,
            "max_retries": 2,
            "retry_on_asset_or_op_failure": False,
        }
    )
    assert validate_config(dagster_instance_config_schema(), compose).success
