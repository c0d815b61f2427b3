"""Verdicts of finished runs: a failed run opens an incident for its job and selection; a run of
the same job that succeeds resolves it when it covered at least what the failed one selected (a
whole-job run covers every selection). A terminated (canceled) run is neither: someone stopped it.

Read from the run status changes, whose storage ids order them on every storage.
"""

from __future__ import annotations

from typing import Final

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from probablyfresh_dagster.alerts.incidents import Verdict
from probablyfresh_dagster.alerts.links import run_link

RUNS = "runs"
"""The runs' name in the cursor."""
PAGE = 100
"""Status changes read per tick and kind; more wait for the next tick."""
ASSETS_NAMED = 3
"""A selection of more assets is named by its size."""
FINISHED: Final = (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
WRAPPERS = {"DagsterExecutionStepExecutionError", "DagsterResourceFunctionError", "DagsterUserCodeExecutionError"}
"""What Dagster raises around an error of the project's code: the message names the cause."""


def run_verdicts(instance: dg.DagsterInstance, after: int | None, ui_url: str) -> list[Verdict]:
    """The finished runs since the storage id `after`, oldest first; without it (the first tick),
    the latest page."""
    pages = [
        instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(kind, after_storage_id=after), limit=PAGE, ascending=after is not None
        ).records
        for kind in FINISHED
    ]
    records = sorted((record for page in pages for record in page), key=lambda record: record.storage_id)
    # A full page may leave out changes of its kind that come before the other kind's last one.
    full = [page for page in pages if len(page) == PAGE]
    if full and after is not None:
        bound = min(page[-1].storage_id for page in full)
        records = [record for record in records if record.storage_id <= bound]
    elif full:
        bound = max(page[-1].storage_id for page in full)
        records = [record for record in records if record.storage_id >= bound]
    return [verdict for record in records if (verdict := _verdict(instance, record, ui_url))]


def _verdict(instance: dg.DagsterInstance, record: dg.EventLogRecord, ui_url: str) -> Verdict | None:
    run = instance.get_run_by_id(record.run_id)
    if run is None:  # deleted since
        return None
    scope = frozenset(key.to_user_string() for key in run.asset_selection) if run.asset_selection else None
    failed = record.event_log_entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
    return Verdict(
        key=f"run {run.job_name}" + (f" [{' '.join(sorted(scope))}]" if scope else ""),
        failing=failed,
        subject=_subject(run.job_name, scope),
        failure="FAILED",
        figures=f"run {run.run_id[:8]} " + (_failure(instance, record) if failed else "succeeded"),
        link=run_link(ui_url, run.run_id),
        position=(RUNS, record.storage_id),
        group=f"run {run.job_name}",
        scope=scope,
    )


def _subject(job_name: str, scope: frozenset[str] | None) -> str:
    job = "materialization" if job_name.startswith("__") else job_name  # the UI's own asset jobs
    if not scope:
        return f"{job} run"
    named = ", ".join(sorted(scope)) if len(scope) <= ASSETS_NAMED else f"{len(scope)} assets"
    return f"{job} run of {named}"


def _failure(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> str:
    """The steps that failed, each with the first line of its error; else why the run failed."""
    steps = [
        f"{event.dagster_event.step_key}: {_cause(event.dagster_event.step_failure_data.error)}"
        for event in instance.all_logs(record.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if event.dagster_event and event.dagster_event.step_failure_data.error
    ]
    if steps:
        return "failed at " + "; ".join(steps)
    event = record.event_log_entry.dagster_event
    return "failed: " + (event.message if event and event.message else "no step failed")


def _cause(error: SerializableErrorInfo) -> str:
    """The first line of the error the step's code raised, not of Dagster's wrapper around it."""
    while error.cls_name in WRAPPERS and error.cause:
        error = error.cause
    return error.message.strip().splitlines()[0]
