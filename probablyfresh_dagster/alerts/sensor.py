"""The alert sensor: each tick reads the verdicts since its cursor (checks, runs, MART freshness),
opens and resolves incidents, and sends one Telegram message per change.

Grafana alerts on the duplicate share from ClickHouse too; this is the Dagster side, so a failure
is reported even when Grafana is down, with a link to where the UI shows it.
"""

from __future__ import annotations

import time

import dagster as dg

from probablyfresh_dagster.alerts.checks import check_source, check_verdicts
from probablyfresh_dagster.alerts.freshness import freshness_verdicts
from probablyfresh_dagster.alerts.incidents import Incidents, latest_per_key
from probablyfresh_dagster.alerts.runs import RUNS, run_verdicts
from probablyfresh_dagster.resources.telegram import TelegramError, TelegramResource


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Alerts are incidents: a check that starts failing, a failed run or an overdue MART sends one "
        "Telegram message, nothing while it stays so, and one when it recovers."
    ),
)
def alert_sensor(context: dg.SensorEvaluationContext, telegram: TelegramResource) -> dg.SkipReason:
    """The cursor (JSON) holds how far each source was read and the open incidents. A change
    passes into it only once Telegram took its message, so a send failure is retried on the next
    tick. With no token configured nothing is sent and the cursor still moves: there is nowhere to
    deliver, so nothing to queue up. A token or base URL that cannot work fails every tick, naming
    the variable; the alerts wait for the fix."""
    if telegram.configured:
        telegram.check_settings()
    repository = context.repository_def
    if repository is None:
        raise dg.DagsterInvariantViolationError("alert_sensor reads the checks and freshness policies of its code location")
    incidents = Incidents.from_cursor(context.cursor)
    # The first tick announces what is failing now, not every incident of the instance's past.
    first = not incidents.positions
    checks = repository.asset_graph.asset_check_keys
    ui_url = telegram.dagster_ui_url
    runs = run_verdicts(context.instance, None if first else incidents.positions.get(RUNS, 0), ui_url)
    verdicts = [
        *check_verdicts(context.instance, checks, None if first else incidents.positions, ui_url),
        *(latest_per_key(runs) if first else runs),
        *freshness_verdicts(context.instance, repository.asset_graph, ui_url),
    ]
    messages: list[str] = []

    def deliver(text: str) -> None:
        if telegram.configured:
            telegram.send(text)
        messages.append(text)

    now = time.time()
    try:
        for verdict in verdicts:
            incidents.handle(verdict, now, deliver)
    except TelegramError as error:
        context.update_cursor(incidents.to_cursor())
        context.log.error(f"{error}; {len(messages)} message(s) sent, the rest kept for the next tick")
        return dg.SkipReason(f"{error}; {len(messages)} message(s) sent, the rest kept for the next tick.")
    if first:  # read from the start from now on, whatever this tick found
        for source in (RUNS, *map(check_source, checks)):
            incidents.positions.setdefault(source, 0)
    context.update_cursor(incidents.to_cursor())
    now_open = f"open: {', '.join(sorted(incidents.open))}" if incidents.open else "nothing failing"
    if not messages:
        return dg.SkipReason(f"No change ({len(verdicts)} verdict(s) read); {now_open}.")
    done = "sent to Telegram" if telegram.configured else "not sent: no Telegram bot configured"
    return dg.SkipReason(f"{len(messages)} alert(s) {done}; {now_open}.")
