"""A MART that is overdue: each MART has Dagster's own freshness policy (shown on the asset in the
UI), which Dagster's freshness daemon evaluates; a FAIL opens an incident, the next PASS (a fresh
materialization) resolves it.

The window is `PROBABLYFRESH_MART_FRESHNESS_MINUTES` (default a day: the sensors load every change
within minutes, so a MART a day old means the automation stopped), at least 1 (Dagster's minimum).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.freshness import FreshnessState, TimeWindowFreshnessPolicy

from probablyfresh_dagster.alerts.incidents import Verdict, duration
from probablyfresh_dagster.alerts.links import asset_link

WINDOW_VARIABLE = "PROBABLYFRESH_MART_FRESHNESS_MINUTES"
DEFAULT_WINDOW_MINUTES = 24 * 60
JUDGED = {FreshnessState.FAIL: True, FreshnessState.WARN: False, FreshnessState.PASS: False}
"""UNKNOWN (never materialized) and NOT_APPLICABLE say nothing either way."""


def mart_freshness_policy() -> dg.FreshnessPolicy:
    minutes = os.environ.get(WINDOW_VARIABLE, "").strip() or str(DEFAULT_WINDOW_MINUTES)
    if not minutes.isdigit() or int(minutes) < 1:
        raise ValueError(f"{WINDOW_VARIABLE} must be a whole number of minutes, at least 1, got {minutes!r}")
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=int(minutes)))


def freshness_verdicts(instance: dg.DagsterInstance, asset_graph: BaseAssetGraph, ui_url: str) -> list[Verdict]:
    """The freshness state of each asset with a time-window policy, as the daemon last recorded it."""
    windows = {
        node.key: node.freshness_policy.fail_window.to_timedelta()
        for node in asset_graph.asset_nodes
        if isinstance(node.freshness_policy, TimeWindowFreshnessPolicy)
    }
    states = instance.get_freshness_state_records(list(windows))
    return [
        _verdict(instance, key, JUDGED[record.freshness_state], windows[key], ui_url)
        for key, record in sorted(states.items(), key=lambda item: item[0].to_user_string())
        if record.freshness_state in JUDGED
    ]


def _verdict(instance: dg.DagsterInstance, key: dg.AssetKey, failing: bool, window: timedelta, ui_url: str) -> Verdict:
    latest = instance.get_latest_materialization_event(key)
    at = datetime.fromtimestamp(latest.timestamp, UTC) if latest else None
    when = f"last materialized {at:%Y-%m-%d %H:%M} UTC" if at else "never materialized"
    return Verdict(
        key=f"freshness {key.to_user_string()}",
        failing=failing,
        subject=f"{key.to_user_string()} freshness",
        failure="OVERDUE",
        figures=f"{when}; expected at least every {duration(window.total_seconds())}",
        link=asset_link(ui_url, key),
    )
