"""An alert for the duplicate alert sensor to send: a failed duplicate check on an instance."""

from __future__ import annotations

import dagster as dg

from probablyfresh_dagster.alerts import DUPLICATE_CHECKS


def report_failed_duplicate_check(instance: dg.DagsterInstance) -> None:
    """A failed purchases `duplicate_share`, reported as a check outside a run would report it."""
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=DUPLICATE_CHECKS[-1].asset_key,
            check_name=DUPLICATE_CHECKS[-1].name,
            passed=False,
            metadata={"duplicate_percentage": 66.67, "threshold_percent": 50.0},
        )
    )
