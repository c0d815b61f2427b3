"""An alert for the alert sensor to send: a failed duplicate check on an instance."""

from __future__ import annotations

import dagster as dg

from probablyfresh_dagster.checks.pipeline import DUPLICATE_SHARE
from probablyfresh_dagster.entities import PURCHASES, Stage

PURCHASES_DUPLICATE_SHARE = dg.AssetCheckKey(PURCHASES.asset_key(Stage.MART), DUPLICATE_SHARE)


def report_failed_duplicate_check(instance: dg.DagsterInstance) -> None:
    """A failed purchases `duplicate_share`, reported as a check outside a run would report it."""
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=PURCHASES_DUPLICATE_SHARE.asset_key,
            check_name=PURCHASES_DUPLICATE_SHARE.name,
            passed=False,
            description="66.67% of 600 RAW rows repeat a key (200 unique keys): above the 50% threshold",
            metadata={"duplicate_percentage": 66.67, "threshold_percent": "50"},
        )
    )
