"""A run whose checks failed says so in the runs list: tag `probablyfresh/failed_checks`.

Dagster calls a run "Success" when its steps succeeded, whatever its checks found: a failed check
that blocks nothing (severity WARN, or an ERROR with nothing downstream in the run) leaves it green.
So each step that judges checks and finds one failed tags its run with every check that failed in
the run so far, read back from the run's own events (and its own, for an `@asset_check` function
whose evaluation Dagster stores only after it returned), added to those the tag already names:

    probablyfresh/failed_checks: purchases_mart:duplicate_share,stores_mart:stores_count

This works alike for `make run`, `make check`, the UI and the sensors' runs, without the daemon. The
steps of a run may finish together, and Dagster's `add_run_tags` rewrites the run's whole record, so
a file lock next to the instance's storage serializes the taggers, so none loses another's (the
steps of one run share a machine). A run without a failed check gets
no tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.lock_waits import exclusive_file_lock

FAILED_CHECKS_TAG = "probablyfresh/failed_checks"
Context = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


def with_verdicts(context: Context, results: Iterable[dg.AssetCheckResult]) -> Iterator[dg.AssetCheckResult]:
    """The results, for a step to yield; after the last, when one failed, the run's tag."""
    failed = False
    for result in results:
        yield result  # Dagster stores the evaluation before it asks for the next one
        failed = failed or not result.passed
    if failed:
        tag_failed_checks(context.instance, context.run.run_id)


def judged(context: dg.AssetCheckExecutionContext, result: dg.AssetCheckResult) -> dg.AssetCheckResult:
    """The result of an `@asset_check` function, for it to return; when it failed, the run's tag
    (naming this check: its evaluation is stored only once the function has returned)."""
    if not result.passed:
        (spec,) = context.check_specs
        tag_failed_checks(context.instance, context.run.run_id, [spec.key.to_user_string()])
    return result


def tag_failed_checks(instance: dg.DagsterInstance, run_id: str, failing: Iterable[str] = ()) -> None:
    """Tag the run with the checks its tag already names, those failed in its stored events, and `failing`."""
    lock = Path(instance.root_directory) / ".probablyfresh_run_tags.lock"
    with exclusive_file_lock(lock, "another step tagging its run"):
        run = instance.get_run_by_id(run_id)
        tagged = run.tags.get(FAILED_CHECKS_TAG, "").split(",") if run else []
        failed = sorted({*tagged, *failed_checks(instance, run_id), *failing} - {""})
        if failed:
            instance.add_run_tags(run_id, {FAILED_CHECKS_TAG: ",".join(failed)})


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """The checks whose stored evaluation in the run failed, as `asset:check`."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    events = [record.event_log_entry.dagster_event for record in records]
    evaluations = [event.asset_check_evaluation_data for event in events if event is not None]
    return {e.asset_check_key.to_user_string() for e in evaluations if not e.passed}
