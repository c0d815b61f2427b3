"""Where the Dagster UI shows what an alert is about: the routes of its webserver (1.13), under the
base URL the operator opens it at (`DAGSTER_UI_URL`)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import dagster as dg


def asset_link(ui_url: str, key: dg.AssetKey) -> str:
    """The asset's page; its overview shows its freshness."""
    return f"{ui_url.rstrip('/')}/assets/{'/'.join(quote(part, safe='') for part in key.path)}"


def check_link(ui_url: str, check: dg.AssetCheckKey) -> str:
    """The check's detail: its latest evaluation, its description and its history."""
    return f"{asset_link(ui_url, check.asset_key)}?{urlencode({'view': 'checks', 'checkDetail': check.name}, quote_via=quote)}"


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"
