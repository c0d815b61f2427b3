"""A run of the load stages that starts when the test says go, so that several start together.

    python -m probablyfresh_dagster_tests.told_run READY GO [SHARD]

builds the code location from the environment (as `make run`), touches READY, waits for GO, then
materializes every entity's stages after its files, as "Materialize" on loaded files does: all
of them, or with SHARD (a partition key) the shard's own, the MART left out. Exits 0 when the run
succeeded and every check it ran passed. Test code only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, Stage
from probablyfresh_dagster.jobs import load_job
from probablyfresh_dagster.settings import Settings


def main(ready: Path, go: Path, shard: str | None) -> int:
    job = build_definitions(Settings.from_env()).resolve_job_def(load_job.name)
    stages = [stage for stage in LOAD_STAGES if shard is None or stage != Stage.MART]
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key=shard,
        asset_selection=[entity.asset_key(stage) for entity in ENTITIES for stage in stages],
        raise_on_error=False,
    )
    checks = result.get_asset_check_evaluations()
    failed = [c.asset_check_key.to_user_string() for c in checks if not c.passed]
    print("success" if result.success else "run failed", "failed checks:", failed)
    return 0 if result.success and checks and not failed else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
