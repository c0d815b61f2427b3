"""A failed duplicate check becomes one Telegram message, sent by a sensor.

Grafana alerts on the same figure from ClickHouse; this is the Dagster side, so a failure is
reported even when Grafana is down, with the run that produced it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, Stage, entity_of
from probablyfresh_dagster.resources.telegram import TelegramError, TelegramResource

DUPLICATE_CHECKS = [dg.AssetCheckKey(e.asset_key(Stage.MART), "duplicate_share") for e in ENTITIES]
HISTORY_PER_TICK = 100
"""Executions read per page of a check's history."""


@dataclass(frozen=True)
class DuplicateFailure:
    execution_id: int
    entity: str
    run_id: str
    duplicate_percentage: float | None
    threshold_percent: float

    def message(self) -> str:
        return (
            f"ProbablyFresh: duplicate share of {self.entity} is {self.duplicate_percentage}% "
            f"(threshold {self.threshold_percent}%), run {self.run_id}"
        )


def failed_duplicate_checks(instance: dg.DagsterInstance, after_id: int) -> list[DuplicateFailure]:
    """Failed `duplicate_share` evaluations with an execution id above `after_id`, oldest first.

    Read from the asset check execution history, whose ids are global and increasing on every
    storage; `get_event_records` on the default run-sharded SQLite storage refuses an integer
    cursor for check evaluations.
    """
    failures = []
    for key in DUPLICATE_CHECKS:
        for record in _executions_after(instance, key, after_id):
            evaluation = record.event.asset_check_evaluation if record.event else None
            if evaluation is None or evaluation.passed:
                continue
            figures = {name: value.value for name, value in evaluation.metadata.items()}
            failures.append(
                DuplicateFailure(
                    execution_id=record.id,
                    entity=entity_of(key.asset_key).name,
                    run_id=record.run_id,
                    duplicate_percentage=figures.get("duplicate_percentage"),
                    threshold_percent=float(figures["threshold_percent"]),
                )
            )
    return sorted(failures, key=lambda failure: failure.execution_id)


def _executions_after(instance: dg.DagsterInstance, key: dg.AssetCheckKey, after_id: int) -> Iterator[Any]:
    """The check's execution records with an id above `after_id`, newest first, a page at a time
    (the history's cursor returns the executions below an id). Filtered on their evaluation, not
    on the history's status filter, whose enum Dagster does not export."""
    below = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(key, limit=HISTORY_PER_TICK, cursor=below)
        for record in page:
            if record.id <= after_id:
                return
            yield record
        if len(page) < HISTORY_PER_TICK:
            return
        below = page[-1].id


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed duplicate_share check: one Telegram message per failed evaluation.",
)
def duplicate_alert_sensor(context: dg.SensorEvaluationContext, telegram: TelegramResource):
    """The cursor is the last execution id handled. It passes a message only once Telegram took
    it, so a send failure is retried on the next tick. With no token configured nothing is sent
    and the cursor still advances: there is nowhere to deliver, so nothing to queue up. A token or
    base URL that cannot work fails every tick, naming the variable; the alerts wait for the fix."""
    if telegram.configured:
        telegram.check_settings()  # a setting that cannot work fails every tick, naming the variable
    failures = failed_duplicate_checks(context.instance, int(context.cursor or 0))
    if not failures:
        return dg.SkipReason("No failed duplicate check since the last tick.")
    if not telegram.configured:
        context.update_cursor(str(failures[-1].execution_id))
        return dg.SkipReason(f"{len(failures)} failed duplicate check(s); no Telegram bot configured.")
    for sent, failure in enumerate(failures):
        try:
            telegram.send(failure.message())
        except TelegramError as error:
            context.log.error(f"{error}; {len(failures) - sent} alert(s) kept for the next tick")
            return dg.SkipReason(f"{error}; {len(failures) - sent} alert(s) kept for the next tick.")
        context.update_cursor(str(failure.execution_id))
    return dg.SkipReason(f"Sent {len(failures)} duplicate alert(s) to Telegram.")
