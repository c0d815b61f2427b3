"""Grafana as code: the provisioning files have the shape Grafana's file provisioning reads, and
every SQL statement of the dashboard and the alert rule runs on the ClickHouse state of a local
end-to-end run and shows what its panel promises."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import yaml

from probablyfresh_dagster.settings import PROJECT_ROOT

from .conftest import Platform, loaded_platform, rows

GRAFANA = PROJECT_ROOT / "infra/grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards/probablyfresh.json").read_text(encoding="utf-8"))
ALERTING = yaml.safe_load((GRAFANA / "provisioning/alerting/duplicates.yaml").read_text(encoding="utf-8"))
DATASOURCES = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text(encoding="utf-8"))
PROVIDERS = yaml.safe_load((GRAFANA / "provisioning/dashboards/probablyfresh.yaml").read_text(encoding="utf-8"))
COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
TIME_FILTER = re.compile(r"\$__timeFilter\((\w+)\)")
(RULE,) = ALERTING["groups"][0]["rules"]


def panels() -> dict[str, dict]:
    return {panel["title"]: panel for panel in DASHBOARD["panels"] if panel["type"] != "row"}


def panel_sql(title: str) -> str:
    (target,) = panels()[title]["targets"]
    return target["rawSql"]


def alert_sql() -> str:
    (query,) = [d for d in RULE["data"] if d["datasourceUid"] != "__expr__"]
    return query["model"]["rawSql"]


def runnable(sql: str) -> str:
    """Grafana's `$__timeFilter(col)` as a range wide enough for any generated date."""
    sql = TIME_FILTER.sub(r"\1 BETWEEN toDateTime64('1970-01-02 00:00:00', 3, 'UTC') AND now64(3)", sql)
    assert "$" not in sql, f"a Grafana macro the test does not know: {sql}"
    return sql


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    return loaded_platform(tmp_path_factory.mktemp("grafana"))


def run_panel(platform: Platform, title: str) -> list[tuple]:
    return rows(platform, runnable(panel_sql(title)))


def latest_duplicates(platform: Platform) -> list[tuple]:
    return rows(platform, "SELECT entity, duplicate_percentage FROM (SELECT * FROM duplicates_log "
                          "ORDER BY timestamp DESC LIMIT 1 BY entity) ORDER BY entity")


# ---- the SQL, on the state of a local end-to-end run ----


def test_every_dashboard_statement_runs_and_returns_rows(loaded):
    for title in panels():
        assert run_panel(loaded, title), title


def test_platform_check_panels_show_45_stores_and_at_least_200_purchases(loaded):
    assert run_panel(loaded, "Stores (expected 45)") == [(45,)]
    ((purchases,),) = run_panel(loaded, "Purchases (at least 200)")
    assert purchases >= 200
    assert run_panel(loaded, "Stores per network") == [("almost", 30), ("maybe", 15)]


def test_duplicate_panels_show_what_duplicates_log_holds(loaded):
    assert run_panel(loaded, "Latest duplicate % per entity") == latest_duplicates(loaded)
    over_time = run_panel(loaded, "Duplicate % per entity over time")
    assert len(over_time) == 4
    assert sorted((entity, share) for _, entity, share in over_time) == latest_duplicates(loaded)


def test_revenue_panels_add_up_to_the_purchases_total(loaded):
    ((total, count),) = rows(loaded, "SELECT sum(total_amount), count() FROM purchases_mart FINAL")
    per_day = run_panel(loaded, "Revenue per day and network")
    assert sum(revenue for _, _, revenue in per_day) == total
    assert len({day for day, _, _ in per_day}) > 1
    per_network = run_panel(loaded, "Revenue per network")
    assert {network for network, _ in per_network} == {"almost", "maybe"}
    assert sum(revenue for _, revenue in per_network) == total
    assert sum(n for _, n in run_panel(loaded, "Delivery share")) == count


def test_top_categories_rank_the_five_categories_by_item_revenue(loaded):
    categories = run_panel(loaded, "Top categories by revenue")
    assert len(categories) == 5
    revenues = [revenue for _, revenue in categories]
    assert revenues == sorted(revenues, reverse=True)
    ((items_total,),) = rows(loaded, "SELECT sum(total_price) FROM purchase_items_current")
    assert sum(revenues) == items_total > Decimal(0)


def test_alert_query_gives_each_entitys_latest_share_and_fires_only_above_50(loaded):
    assert rows(loaded, runnable(alert_sql())) == latest_duplicates(loaded)
    (threshold,) = [d for d in RULE["data"] if d["refId"] == RULE["condition"]]
    (condition,) = threshold["model"]["conditions"]
    assert condition["evaluator"] == {"type": "gt", "params": [50]}

    def firing():
        return [entity for entity, share in rows(loaded, runnable(alert_sql())) if share > 50]

    assert firing() == []
    with loaded.resource("clickhouse").client() as client:
        client.command("INSERT INTO duplicates_log VALUES ('purchases', 600, 200, 66.67, now64(3) + 60, 'test')")
    try:
        assert firing() == ["purchases"]
    finally:
        with loaded.resource("clickhouse").client() as client:
            client.command("DELETE FROM duplicates_log WHERE run_id = 'test'")


# ---- the provisioning files ----


def test_datasource_is_the_clickhouse_plugin_with_credentials_from_the_environment():
    assert DATASOURCES["apiVersion"] == 1
    (source,) = DATASOURCES["datasources"]
    assert (source["type"], source["uid"]) == ("grafana-clickhouse-datasource", "clickhouse")
    json_data = source["jsonData"]
    assert (json_data["host"], json_data["port"], json_data["protocol"]) == ("clickhouse", 8123, "http")
    assert json_data["host"] in COMPOSE["services"]
    assert json_data["username"] == "$CLICKHOUSE_USER"
    assert source["secureJsonData"] == {"password": "$CLICKHOUSE_PASSWORD"}


def test_dashboards_provider_reads_the_folder_compose_mounts():
    assert PROVIDERS["apiVersion"] == 1
    (provider,) = PROVIDERS["providers"]
    assert provider["type"] == "file"
    assert f"./infra/grafana/dashboards:{provider['options']['path']}:ro" in COMPOSE["services"]["grafana"]["volumes"]


def test_every_panel_queries_the_provisioned_datasource_with_raw_sql():
    uid = DATASOURCES["datasources"][0]["uid"]
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    for title, panel in panels().items():
        (target,) = panel["targets"]
        assert panel["datasource"]["uid"] == target["datasource"]["uid"] == uid, title
        assert target["editorType"] == "sql" and target["queryType"] in ("table", "timeSeries"), title
        if target["queryType"] == "timeSeries":
            assert " AS time" in target["rawSql"], title


def test_alert_rule_group_has_condition_data_and_explicit_no_data_and_error_states():
    assert ALERTING["apiVersion"] == 1
    (group,) = ALERTING["groups"]
    assert group["folder"] and group["interval"]
    assert RULE["uid"] and RULE["title"]
    assert RULE["condition"] in {d["refId"] for d in RULE["data"]}
    for query in RULE["data"]:
        assert query["model"]["refId"] == query["refId"]
        assert set(query["relativeTimeRange"]) == {"from", "to"}
    assert {d["datasourceUid"] for d in RULE["data"]} == {"clickhouse", "__expr__"}
    assert RULE["noDataState"] in ("OK", "NoData", "Alerting", "KeepLast")
    assert RULE["execErrState"] in ("OK", "Error", "Alerting", "KeepLast")


def test_telegram_contact_point_takes_token_and_chat_id_from_the_environment():
    (contact_point,) = ALERTING["contactPoints"]
    (receiver,) = contact_point["receivers"]
    assert receiver["type"] == "telegram"
    assert receiver["settings"]["bottoken"] == "$TELEGRAM_BOT_TOKEN"
    assert receiver["settings"]["chatid"] == "${TELEGRAM_CHAT_ID}"  # a string, even when negative
    assert {"TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"} <= set(COMPOSE["services"]["grafana"]["environment"])
    (policy,) = ALERTING["policies"]
    assert policy["receiver"] == contact_point["name"]


def test_alerting_file_has_no_dollar_but_the_contact_points_variables():
    """Grafana expands `$NAME` anywhere in a provisioning file: a stray `$` would be eaten."""
    text = (GRAFANA / "provisioning/alerting/duplicates.yaml").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert set(re.findall(r"\$\{?\w+\}?", code)) == {"$TELEGRAM_BOT_TOKEN", "${TELEGRAM_CHAT_ID}"}
