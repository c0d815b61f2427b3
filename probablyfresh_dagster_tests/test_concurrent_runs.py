"""Two runs at once on one state: both finish with every check passed, and every record is
published, loaded and kept once (the publish lease, the chDB lock and the ClickHouse pool take
turns between them)."""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import pytest

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate

from .processes import RERUN_SECONDS
from .run_state import delivery_figures
from .support import local_run_env

PURCHASES = 3000
EXPECTED = {"stores": 45, "products": 100, "customers": 45, "purchases": PURCHASES}

# The pipeline job without the generator, as "Materialize" on the loaded files does it, started
# when the test says go so that both runs load, publish and consume at the same moments.
RUN_WHEN_TOLD = """
import pathlib, sys, time
import dagster as dg
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.settings import Settings
ready, go = map(pathlib.Path, sys.argv[1:])
job = build_definitions(Settings.from_env()).resolve_job_def(pipeline_job.name)
loads = [entity.asset_key(stage) for entity in ENTITIES for stage in LOAD_STAGES]
ready.touch()
while not go.exists():
    time.sleep(0.001)
result = job.execute_in_process(instance=dg.DagsterInstance.get(), asset_selection=loads, raise_on_error=False)
checks = result.get_asset_check_evaluations()
failed = [c.asset_check_key.to_user_string() for c in checks if not c.passed]
print("success" if result.success else "run failed", "failed checks:", failed)
sys.exit(0 if result.success and checks and not failed else 1)
"""


@pytest.mark.slow
def test_two_runs_at_once_publish_and_load_every_record_once(tmp_path) -> None:
    env = local_run_env(tmp_path)
    # An instance used before: two processes creating its SQLite storage at the same moment
    # trip over each other's CREATE TABLE (Dagster's own race, not the platform's).
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.get_runs(limit=1)
        instance.event_log_storage.get_concurrency_keys()
    generate(GeneratorConfig(purchases=PURCHASES), tmp_path / "data")
    go = tmp_path / "go"
    runs = []
    for n in (1, 2):
        with (tmp_path / f"run-{n}.log").open("w") as log:
            command = [sys.executable, "-c", RUN_WHEN_TOLD, str(tmp_path / f"ready-{n}"), str(go)]
            runs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{n}").exists() for n in (1, 2)) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    go.touch()
    codes = [run.wait(timeout=2 * RERUN_SECONDS) for run in runs]
    print(f"two runs of {PURCHASES} purchases at once: {time.monotonic() - started:.1f} s")
    assert codes == [0, 0], "\n".join((tmp_path / f"run-{n}.log").read_text()[-3000:] for n in (1, 2))

    figures = delivery_figures(tmp_path / "state")
    assert figures == {
        entity: {"messages": count, "republished_versions": 0, "raw_rows": count, "repeated_raw_offsets": 0}
        for entity, count in EXPECTED.items()
    }
