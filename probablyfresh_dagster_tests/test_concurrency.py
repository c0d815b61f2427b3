"""Runs as the UI launches them, on each profile's executor (`definitions.EXECUTORS`): on the local
profile every step in the run's own process, on the docker profile each step in a process of its own.
"""

import dataclasses
import importlib
import time

import dagster as dg
import pytest

from probablyfresh_dagster import jobs
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import BY_NAME, Stage
from probablyfresh_dagster.local_runs.dead_runs import is_alive, reported_process
from probablyfresh_dagster.profiles import local_backends
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings

from .processes import pool_holders, stuck_step_pid, with_stuck_clickhouse
from .support import local_dagster_home, local_run_env, wait_for

BENCHMARK_SCRIPTS = PROJECT_ROOT / "infra" / "benchmark"
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename } }"""
START_SECONDS = 120  # a run's process imports Dagster, chDB and the code location first
TERMINATE_SECONDS = 30


def docker_executor_pipeline_job() -> dg.JobDefinition:
    """The pipeline on the docker profile's executor and the embedded backends; rebuilt in every
    step process from the environment the test sets."""
    local = Settings.from_env()
    definitions = build_definitions(dataclasses.replace(local, profile="docker"), **local_backends(local))
    return definitions.resolve_job_def(jobs.pipeline_job.name)


@pytest.mark.slow
def test_materialize_all_with_the_docker_profiles_multiprocess_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBABLYFRESH_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("PROBABLYFRESH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FERNET_KEY", raising=False)

    instance = dg.DagsterInstance.from_config(str(local_dagster_home(tmp_path)))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    with dg.execute_job(dg.reconstructable(docker_executor_pipeline_job), instance=instance) as result:
        assert result.success
        checks = [event.event_specific_data for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"]
        step_processes = {event.pid for event in result.all_events if event.event_type_value == "STEP_START"}
    defs = build_definitions(Settings.from_env())
    assert len(checks) == len(defs.resolve_asset_graph().asset_check_keys) and all(check.passed for check in checks)
    # One step per node: each asset of an entity's chain (its checks judged in its step), the
    # generator, and each check that reads several assets; each step in a process of its own.
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert steps == {node.name for node in defs.resolve_job_def(jobs.pipeline_job.name).graph.nodes}
    assert len(step_processes) == len(steps)


@pytest.mark.slow
def test_runs_launched_from_the_ui_take_turns_in_the_pool_and_terminate_frees_it(tmp_path, monkeypatch):
    """Two runs launched through `make dev`'s webserver: the second waits in the run queue while
    the first's ClickHouse step, in the first run's own process, holds the `clickhouse` pool;
    Terminate on the first ends it, step and process, within seconds, and the second's step gets
    the slot."""
    monkeypatch.syspath_prepend(str(BENCHMARK_SCRIPTS))
    ui = importlib.import_module("materialize_all")
    marker = tmp_path / "stuck"
    env = with_stuck_clickhouse(local_run_env(tmp_path), marker, hears=True)
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])

    def terminated(run_id: str) -> None:
        assert graphql(TERMINATE, id=run_id)["data"]["terminateRun"]["__typename"] == "TerminateRunSuccess"
        wait_for(
            lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED, TERMINATE_SECONDS, "the run to end"
        )

    with ui.dev_server(env, tmp_path / "dev.log") as graphql:
        first = ui.launch(graphql, [BY_NAME["stores"].asset_key(Stage.CLICKHOUSE_RAW).path])
        first_pid = stuck_step_pid(marker, START_SECONDS)
        first_process = reported_process(instance, first)
        assert first_process is not None and first_process.pid == first_pid  # the step runs in the run's process
        assert pool_holders(instance) == {first}

        second = ui.launch(graphql, [BY_NAME["products"].asset_key(Stage.CLICKHOUSE_RAW).path])
        assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.QUEUED  # the queue holds it: its pool is full
        assert pool_holders(instance) == {first}
        marker.unlink()

        asked_at = time.monotonic()
        terminated(first)
        wait_for(lambda: not is_alive(first_process), TERMINATE_SECONDS, "the terminated run's process to end")
        print(f"terminated run ended {time.monotonic() - asked_at:.1f} s after Terminate")
        assert stuck_step_pid(marker, START_SECONDS) != first_pid
        assert pool_holders(instance) == {second}

        terminated(second)
        assert pool_holders(instance) == set()
        assert not instance.event_log_storage.get_concurrency_info("clickhouse").pending_steps
