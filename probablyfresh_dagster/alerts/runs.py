"""Verdicts of finished runs. A failed run opens an incident for its job and the assets it planned
and did not materialize; it resolves with the first successful run once every one of them has been
materialized since (by runs of any job: the sensors' requests of the stages behind, the UI's, `make
run`). A failed run that planned no asset (it died before its plan, or a job of ops such as
`purge_pii`) resolves with the next success of its job. A terminated (canceled) run is neither:
someone stopped it.

Read from the run status changes, whose storage ids order them on every storage.
"""

from __future__ import annotations

from typing import Final

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from probablyfresh_dagster.alerts.incidents import Verdict
from probablyfresh_dagster.alerts.links import run_link

RUNS = "runs"
"""The runs' name in the cursor, and the group of the incidents of runs that left assets undone."""
PAGE = 100
"""Status changes read per tick and kind; more wait for the next tick."""
ASSETS_NAMED = 3
"""More assets left undone are named by their number."""
OF_A_RUN: Final = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.STEP_FAILURE,
}
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
    events = [entry.dagster_event for entry in instance.all_logs(run.run_id, of_type=OF_A_RUN) if entry.dagster_event]
    planned, done = (
        frozenset(event.asset_key.to_user_string() for event in events if event.event_type == kind and event.asset_key)
        for kind in (dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION)
    )
    undone = planned - done
    own = f"run {run.job_name}"
    failed = record.event_log_entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
    return Verdict(
        key=own + (f" [{' '.join(sorted(undone))}]" if undone else ""),
        failing=failed,
        subject=_subject(run.job_name, undone),
        failure="FAILED",
        figures=f"run {run.run_id[:8]} " + (_failure(record, events) if failed else "succeeded"),
        link=run_link(ui_url, run.run_id),
        position=(RUNS, record.storage_id),
        group=RUNS if undone else own,
        resolves=frozenset({RUNS, own}),
        undone=undone,
        done=done,
    )


def _subject(job_name: str, undone: frozenset[str]) -> str:
    job = "materialization" if job_name.startswith("__") else job_name  # the UI's own asset jobs
    if not undone:
        return f"{job} run"
    named = ", ".join(sorted(undone)) if len(undone) <= ASSETS_NAMED else f"{len(undone)} assets"
    return f"{job} run of {named}"


def _failure(record: dg.EventLogRecord, events: list[dg.DagsterEvent]) -> str:
    """The steps that failed, each with the first line of its error; else why the run failed."""
    steps = [
        f"{event.step_key}: {_cause(event.step_failure_data.error)}"
        for event in events
        if event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_failure_data.error
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
