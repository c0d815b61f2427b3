""" "Materialize all" as the UI does it: the multiprocess executor, steps in parallel processes."""

import dagster as dg
import pytest

from probablyfresh_dagster import jobs
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.settings import Settings

from .support import local_dagster_home


def pipeline_job() -> dg.JobDefinition:
    """Rebuilt in every step process from the environment the test sets."""
    return build_definitions(Settings.from_env()).resolve_job_def(jobs.pipeline_job.name)


@pytest.mark.slow
def test_materialize_all_with_the_multiprocess_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBABLYFRESH_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("PROBABLYFRESH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FERNET_KEY", raising=False)

    instance = dg.DagsterInstance.from_config(str(local_dagster_home(tmp_path)))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    run_config = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
    with dg.execute_job(dg.reconstructable(pipeline_job), instance=instance, run_config=run_config) as result:
        assert result.success
        checks = [event.event_specific_data for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    defs = build_definitions(Settings.from_env())
    assert len(checks) == len(defs.resolve_asset_graph().asset_check_keys) and all(check.passed for check in checks)
    # One step per node: each asset of an entity's chain (its checks judged in its step), the
    # generator, and each check that reads several assets.
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert steps == {node.name for node in defs.resolve_job_def(jobs.pipeline_job.name).graph.nodes}
