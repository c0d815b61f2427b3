"""The local instance's run launcher: Dagster's default one, plus a run-worker health check.

Run monitoring (the daemon in `make dev`) fails a started run whose worker is gone, but only
when the run launcher answers `check_run_worker_health`, which `DefaultRunLauncher` does not.
This launcher answers it from the pid the run reported (see `dead_runs`). The daemon then marks
the dead run failed, and frees its concurrency slots `free_slots_after_run_end_seconds` later
(infra/dagster/local.yaml). Runs of `make run` are checked the same way.
"""

from __future__ import annotations

import dagster as dg

# No public export: the run launchers in Dagster's own integrations (dagster-docker, dagster-k8s)
# import these from the same private package.
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from probablyfresh_dagster.local_runs.dead_runs import is_alive, reported_process


class LocalProcessRunLauncher(dg.DefaultRunLauncher):
    """Runs in processes on this machine, launched by the code server, monitored by pid."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        process = reported_process(self._instance, run.run_id)
        if process is None:
            # Not dead as far as anyone can tell: see `dead_runs.find_dead_runs`.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no process reported yet")
        if is_alive(process):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {process.pid} is running")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {process.pid}) is gone")
