"""Verdicts of asset checks: every evaluation of every check of the code location, whatever ran it
(a sensor's run, `make run`, `make check`, the UI), in the order each check was evaluated.

Read from each check's execution history, whose ids are global and increasing on every storage
(`get_event_records` on the default run-sharded SQLite storage refuses an integer cursor for check
evaluations). An execution is recorded when its run plans it and completed in place when the check
is judged, so reading stops at one still planned by a run that goes on: passing it would skip its
evaluation for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecord, AssetCheckExecutionRecordStatus

from probablyfresh_dagster.alerts.incidents import Verdict
from probablyfresh_dagster.alerts.links import check_link

HISTORY_PAGE = 100
"""Executions read per query of a check's history."""


def check_source(check: dg.AssetCheckKey) -> str:
    """The check's name in the cursor: its incident and how far its history was read."""
    return f"check {check.to_user_string()}"


def check_verdicts(
    instance: dg.DagsterInstance, checks: Iterable[dg.AssetCheckKey], positions: dict[str, int] | None, ui_url: str
) -> list[Verdict]:
    """The verdicts of each check since the cursor's position for it (from the start for a check
    it does not know yet); on the first tick (no positions), each check's latest verdict only."""
    verdicts = []
    for check in sorted(checks, key=lambda key: key.to_user_string()):
        source = check_source(check)
        after = None if positions is None else positions.get(source, 0)
        judged = [_verdict(check, record, source, ui_url) for record in _settled(instance, _executions(instance, check, after))]
        verdicts.extend(judged if after is not None else judged[-1:])
    return verdicts


def _executions(instance: dg.DagsterInstance, check: dg.AssetCheckKey, after: int | None) -> list[AssetCheckExecutionRecord]:
    """The check's executions above `after` (without it, the latest page), oldest first. The
    history pages backwards: each page holds the executions below the last id of the one before."""
    found: list[AssetCheckExecutionRecord] = []
    below = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(check, limit=HISTORY_PAGE, cursor=below)
        for record in page:
            if after is not None and record.id <= after:
                return found[::-1]
            found.append(record)
        if after is None or len(page) < HISTORY_PAGE:
            return found[::-1]
        below = page[-1].id


def _settled(instance: dg.DagsterInstance, records: list[AssetCheckExecutionRecord]) -> Iterator[AssetCheckExecutionRecord]:
    """The judged executions, up to the first one planned by a run still going on. One planned by a
    run that ended (failed before the check was judged) has nothing to say and is passed over."""
    for record in records:
        if record.status != AssetCheckExecutionRecordStatus.PLANNED:
            yield record
            continue
        run = instance.get_run_by_id(record.run_id)
        if run is not None and not run.is_finished:
            return


def _verdict(check: dg.AssetCheckKey, record: AssetCheckExecutionRecord, source: str, ui_url: str) -> Verdict:
    evaluation = record.event.asset_check_evaluation if record.event else None
    passed = record.status == AssetCheckExecutionRecordStatus.SUCCEEDED
    return Verdict(
        key=source,
        failing=not passed,
        subject=f"{check.asset_key.to_user_string()} {check.name}",
        failure="FAILING",
        figures=_figures(evaluation) if evaluation else ("passed" if passed else "failed"),
        link=check_link(ui_url, check),
        position=(source, record.id),
    )


def _figures(evaluation: dg.AssetCheckEvaluation) -> str:
    """The check's own sentence (every check of the project writes one, figures included), else its metadata."""
    if evaluation.description:
        return evaluation.description
    return ", ".join(f"{name} {value.value}" for name, value in evaluation.metadata.items()) or "no figures"
