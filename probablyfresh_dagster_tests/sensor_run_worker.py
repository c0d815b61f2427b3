"""The run worker of one sensor request, paused at a named step so that a test can kill it there.

    python -m probablyfresh_dagster_tests.sensor_run_worker STOP MARKER REQUEST_JSON

runs the request's job with its asset selection and tags on the instance of DAGSTER_HOME and the
state of the environment, as the daemon's run worker would, except that at STOP it writes MARKER
and sleeps (see `crashing_run.install`). Test code only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .crashing_run import SQL_SCRIPT, SQLITE_LOG, SQLITE_STORE, Point, install

STOPS = {
    "mongo: purchases upserted, the asset not yet finished": Point(f"{SQLITE_STORE}.upsert", when="purchases", after=True),
    "kafka: purchases in the log, not yet marked in MongoDB": Point(f"{SQLITE_STORE}.mark_published", when="purchases"),
    "raw: purchases in RAW, offsets not committed": Point(f"{SQLITE_LOG}.commit", when="purchases"),
    "mart: purchases in the MART, watermark not yet recorded": Point(SQL_SCRIPT, when="mart_load/watermark.*'purchases'"),
}


def main(stop: str, marker: str, request: str) -> int:
    install(STOPS[stop], Path(marker))
    import dagster as dg

    from probablyfresh_dagster.definitions import build_definitions
    from probablyfresh_dagster.settings import Settings

    wanted = json.loads(request)
    job = build_definitions(Settings.from_env()).resolve_job_def(wanted["job"])
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        asset_selection=[dg.AssetKey(asset) for asset in wanted["assets"]],
        tags=wanted["tags"],
        raise_on_error=False,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
