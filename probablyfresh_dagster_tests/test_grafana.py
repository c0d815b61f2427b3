"""Grafana as code: the provisioning files have the shape Grafana's file provisioning reads, the
grafana service's entrypoint provisions Telegram only with a token, every SQL statement of the
dashboard and the alert rule runs on the ClickHouse state of a local end-to-end run and shows what
its panel promises, and on the tables the compose ClickHouse creates at start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import yaml
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.settings import PROJECT_ROOT
from probablyfresh_dagster.sql import run_script

from .past_the_rules import land_past_the_rules, load_downstream
from .platforms import Platform, local_platform, rows

GRAFANA = PROJECT_ROOT / "infra/grafana"
ALERT_RULE = GRAFANA / "provisioning/alerting/duplicates.yaml"
TELEGRAM = GRAFANA / "notifications/telegram.yaml"
NO_TELEGRAM = GRAFANA / "notifications/no-telegram.yaml"
DASHBOARD = json.loads((GRAFANA / "dashboards/probablyfresh.json").read_text(encoding="utf-8"))
DATASOURCES = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text(encoding="utf-8"))
PROVIDERS = yaml.safe_load((GRAFANA / "provisioning/dashboards/probablyfresh.yaml").read_text(encoding="utf-8"))
COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
TIME_FILTER = re.compile(r"\$__timeFilter\((\w+)\)")
(RULE,) = yaml.safe_load(ALERT_RULE.read_text(encoding="utf-8"))["groups"][0]["rules"]

# The values of the grafana-clickhouse-datasource plugin's `QueryType` (src/types/queryBuilder.ts).
PLUGIN_QUERY_TYPES = {"table", "logs", "timeseries", "traces"}
# The settings Grafana's Telegram integration reads: the JSON keys of `Config` in grafana/alerting
# receivers/telegram/config.go. An unknown key is ignored silently.
TELEGRAM_SETTINGS = {
    "bottoken",
    "chatid",
    "message_thread_id",
    "message",
    "parse_mode",
    "disable_web_page_preview",
    "protect_content",
    "disable_notifications",
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def mounted(service: str, path: str) -> Path:
    """The project file or folder that docker-compose.yml bind-mounts at `path` in `service`."""
    for volume in COMPOSE["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./") and (path == target or path.startswith(target + "/")):
            return PROJECT_ROOT / source / path.removeprefix(target).lstrip("/")
    raise AssertionError(f"{service} mounts nothing at {path}")


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


def run_panel(platform: Platform, title: str) -> list[tuple]:
    return rows(platform, runnable(panel_sql(title)))


def latest_duplicates(platform: Platform) -> list[tuple]:
    return rows(
        platform,
        "SELECT entity, duplicate_percentage FROM (SELECT * FROM duplicates_log "
        "ORDER BY timestamp DESC LIMIT 1 BY entity) ORDER BY entity",
    )


# ---- the SQL, on the state of a local end-to-end run ----


REJECTS, KAFKA_LAG, MART_FRESHNESS = (
    "Rejected records per reason",
    "Kafka lag per entity",
    "MART freshness: time since the last MART load",
)


def test_every_dashboard_statement_runs_and_returns_rows(loaded):
    for title in panels():
        assert run_panel(loaded, title) or title == REJECTS, title
    assert run_panel(loaded, REJECTS) == []  # the generated data breaks no rule


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


def test_operator_panels_show_rejects_per_reason_kafka_lag_and_mart_freshness(tmp_path: Path):
    """A default run, then two purchases whose line breaks a rule (at different lines), a store
    without a name and another producer's customer with a clear-text email, loaded downstream."""
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        first = {e.name: rows(platform, f"SELECT count() FROM {e.raw_table}")[0][0] for e in ENTITIES}
        land_past_the_rules(
            platform,
            [
                ("purchases", "ord-bad-1", {"items.0.quantity": 0}),
                ("purchases", "ord-bad-2", {"items.1.quantity": -1}),
                ("stores", "store-bad", {"store_name": " "}),
            ],
        )
        with platform.resource("kafka").open() as log:
            log.publish("customers", [OutgoingMessage("cus-9999", orjson.dumps({"customer_id": "cus-9999", "email": "x@y.ru"}))])
        assert load_downstream(platform).success
        rejects = run_panel(platform, REJECTS)
        lags = run_panel(platform, KAFKA_LAG)
        ages = dict(run_panel(platform, MART_FRESHNESS))
        loaded_at = {e.name: platform.instance.get_latest_materialization_event(e.asset_key(Stage.MART)) for e in ENTITIES}
    ((set_aside_layer, entity, rule, records),) = [row for row in rejects if row[0] != "MART"]
    assert (set_aside_layer, entity, records) == ("RAW set aside", "customers", 1) and rule.startswith("email: ")
    assert [row for row in rejects if row[0] == "MART"] == [
        ("MART", "purchases", "items[n].quantity: not a positive number", 2),
        ("MART", "stores", "store_name: missing, not a string or blank", 1),
    ]
    # Per entity, the samples in time order: each RAW run's lag as it found it and as it left it.
    landed = {"stores": 1, "products": 0, "customers": 1, "purchases": 2}
    for name, found in first.items():
        assert [lag for _, entity, lag in lags if entity == name] == [found, 0, landed[name], 0], name
    for name, event in loaded_at.items():
        assert event is not None and abs(ages[name] - (time.time() - event.timestamp)) <= 2, name


# ---- the provisioning files ----


def test_datasource_is_the_clickhouse_plugin_with_credentials_from_the_environment():
    assert DATASOURCES["apiVersion"] == 1
    (source,) = DATASOURCES["datasources"]
    assert (source["type"], source["uid"]) == ("grafana-clickhouse-datasource", "clickhouse")
    json_data = source["jsonData"]
    assert (json_data["host"], json_data["port"], json_data["protocol"]) == ("$CLICKHOUSE_HOST", 8123, "http")
    # The Dagster services' DSN, the one-node `clickhouse` by default (entrypoint.sh takes its host).
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["environment"]["CLICKHOUSE_DSN"] == COMPOSE["x-dagster-env"]["CLICKHOUSE_DSN"]
    assert grafana["environment"]["CLICKHOUSE_DSN"] == "${CLICKHOUSE_STACK_DSN:-" + DEFAULT_DSN + "}"
    assert "clickhouse" in COMPOSE["services"]
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
        assert target["editorType"] == "sql" and target["queryType"] in PLUGIN_QUERY_TYPES, title
        if target["queryType"] == "timeseries":
            assert " AS time" in target["rawSql"], title


def test_alert_rule_group_has_condition_data_and_explicit_no_data_and_error_states():
    alerting = load(ALERT_RULE)
    assert alerting["apiVersion"] == 1 and set(alerting) == {"apiVersion", "groups"}
    (group,) = alerting["groups"]
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
    telegram = load(TELEGRAM)
    (contact_point,) = telegram["contactPoints"]
    (receiver,) = contact_point["receivers"]
    assert receiver["type"] == "telegram"
    assert set(receiver["settings"]) <= TELEGRAM_SETTINGS
    assert receiver["settings"]["bottoken"] == "$TELEGRAM_BOT_TOKEN"
    assert receiver["settings"]["chatid"] == "${TELEGRAM_CHAT_ID}"  # a string, even when negative
    assert {"TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"} <= set(COMPOSE["services"]["grafana"]["environment"])
    (policy,) = telegram["policies"]
    assert policy["receiver"] == contact_point["name"]


def test_without_telegram_the_policy_is_reset_and_the_contact_point_removed():
    telegram = load(TELEGRAM)
    (contact_point,) = telegram["contactPoints"]
    (receiver,) = contact_point["receivers"]
    (policy,) = telegram["policies"]
    no_telegram = load(NO_TELEGRAM)
    assert no_telegram["resetPolicies"] == [policy["orgId"]]
    assert no_telegram["deleteContactPoints"] == [{"orgId": contact_point["orgId"], "uid": receiver["uid"]}]


@pytest.mark.parametrize(
    ("path", "variables"),
    [(ALERT_RULE, set()), (TELEGRAM, {"$TELEGRAM_BOT_TOKEN", "${TELEGRAM_CHAT_ID}"}), (NO_TELEGRAM, set())],
    ids=["rule", "telegram", "no-telegram"],
)
def test_alerting_files_have_no_dollar_but_the_contact_points_variables(path: Path, variables: set[str]):
    """Grafana expands `$NAME` anywhere in a provisioning file: a stray `$` would be eaten."""
    code = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    assert set(re.findall(r"\$\{?\w+\}?", code)) == variables


# ---- the grafana service's entrypoint ----

STAND_IN_RUN_SH = """#!/bin/sh
echo "run.sh $* on ClickHouse at $CLICKHOUSE_HOST"
cd "$GF_PATHS_PROVISIONING" && find . -type f | sort
"""
TOKEN = "123456:token-that-must-not-be-printed"
DEFAULT_DSN = "http://clickhouse:8123/default"
"""CLICKHOUSE_DSN of the Dagster services and Grafana when .env leaves CLICKHOUSE_STACK_DSN empty."""


def start_grafana(tmp_path: Path, dsn: str = DEFAULT_DSN, **telegram: str) -> subprocess.CompletedProcess:
    """The grafana service's entrypoint as compose runs it, with a /run.sh that lists the
    provisioning folder it is given instead of starting Grafana."""
    run_sh = tmp_path / "run.sh"
    run_sh.write_text(STAND_IN_RUN_SH)
    run_sh.chmod(0o755)
    shell, script = COMPOSE["services"]["grafana"]["entrypoint"]
    environment = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
        "GRAFANA_RUN_SH": str(run_sh),
        "CLICKHOUSE_DSN": dsn,
        **telegram,
    }
    return subprocess.run(
        [shell, mounted("grafana", script), "--some-flag"], env=environment, capture_output=True, text=True, timeout=30
    )


def provisioned(notifications: Path) -> list[str]:
    """The files Grafana should be given: infra/grafana/provisioning plus one notifications file."""
    files = [f"./{p.relative_to(GRAFANA / 'provisioning')}" for p in (GRAFANA / "provisioning").rglob("*") if p.is_file()]
    return sorted([*files, f"./alerting/{notifications.name}"])


def test_grafana_gets_the_telegram_contact_point_when_a_token_is_set(tmp_path: Path):
    started = start_grafana(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID="-1001234567890")
    assert started.returncode == 0, started.stderr
    message, run_sh, *files = started.stdout.splitlines()
    assert "Telegram contact point provisioned" in message
    assert run_sh == "run.sh --some-flag on ClickHouse at clickhouse"
    assert files == provisioned(TELEGRAM)
    assert TOKEN not in started.stdout + started.stderr


def test_grafana_starts_without_a_token_and_a_restart_drops_the_telegram_contact_point(tmp_path: Path):
    assert start_grafana(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID="42").returncode == 0
    started = start_grafana(tmp_path, TELEGRAM_BOT_TOKEN="", TELEGRAM_CHAT_ID="")
    assert started.returncode == 0, started.stderr
    message, run_sh, *files = started.stdout.splitlines()
    assert "TELEGRAM_BOT_TOKEN is empty: no Telegram contact point" in message
    assert files == provisioned(NO_TELEGRAM)


@pytest.mark.parametrize(
    ("dsn", "host"),
    [
        (DEFAULT_DSN, "clickhouse"),
        ("http://clickhouse-s1r1:8123/default", "clickhouse-s1r1"),
        ("https://u@ch.example:8123", "ch.example"),
    ],
)
def test_the_datasource_reads_the_clickhouse_the_dagster_services_write(tmp_path: Path, dsn: str, host: str):
    started = start_grafana(tmp_path, dsn)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[1] == f"run.sh --some-flag on ClickHouse at {host}"


def test_grafana_refuses_a_clickhouse_on_another_port(tmp_path: Path):
    started = start_grafana(tmp_path, "http://clickhouse:9000/default")
    assert started.returncode != 0
    assert "must name a server's HTTP port 8123" in started.stderr
    assert "run.sh" not in started.stdout


def test_grafana_refuses_a_token_without_a_chat_id_without_printing_it(tmp_path: Path):
    started = start_grafana(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN)
    assert started.returncode != 0
    assert "TELEGRAM_CHAT_ID is empty" in started.stderr
    assert "run.sh" not in started.stdout
    assert TOKEN not in started.stdout + started.stderr


# ---- the tables the compose ClickHouse creates at start ----


def init_tables_calls() -> list[list[str]]:
    """The client calls the clickhouse-server image's entrypoint makes when it sources
    init-tables.sh (a `*.sh` in /docker-entrypoint-initdb.d that is not executable is sourced, with
    the entrypoint's own `clickhouseclient` command), here recorded instead of run."""
    script = mounted("clickhouse", "/docker-entrypoint-initdb.d/init-tables.sh")
    assert not os.access(script, os.X_OK), "an executable init script runs without clickhouseclient"
    record = 'record() { printf "%s\\t" "$@"; echo; }; clickhouseclient=(record); set -eo pipefail; . "$1"'
    result = subprocess.run(["bash", "-c", record, "bash", script], capture_output=True, text=True, check=True)
    return [line.rstrip("\t").split("\t") for line in result.stdout.splitlines()]


def apply(client: Client, call: list[str]) -> None:
    """One `clickhouse-client --param_NAME=VALUE … --queries-file FILE …` call, applied by the
    code's own runner to the project file compose mounts at FILE."""
    parameters, files, arguments = {}, [], iter(call)
    for argument in arguments:
        if argument == "--queries-file":
            files.append(mounted("clickhouse", next(arguments)))
        elif argument.startswith("--param_"):
            name, value = argument.removeprefix("--param_").split("=", 1)
            parameters[name] = value
        else:
            raise AssertionError(f"a clickhouse-client option this test does not apply: {argument}")
    for path in files:
        run_script(client, path.relative_to(PROJECT_ROOT / "infra/clickhouse").with_suffix("").as_posix(), **parameters)


def schema(client: Client) -> set[tuple[str, str]]:
    tables = client.query("SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()")
    functions = client.query("SELECT name, create_query FROM system.functions WHERE origin = 'SQLUserDefined'")
    return {(name, query) for name, query in (*tables.result_rows, *functions.result_rows)}


def test_clickhouse_creates_at_start_every_table_the_dashboard_and_the_alert_read(tmp_path: Path):
    """On a fresh ClickHouse, what init-tables.sh applies is what the MART run prepares for every
    entity; every dashboard and alert statement runs, and the alert query finds no row (its
    noDataState is OK; a missing table was an error, notified as DatasourceError)."""
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client:
        for call in init_tables_calls():
            apply(client, call)
        created = schema(client)
        for entity in ENTITIES:
            mart_load.prepare(client, entity)
        assert schema(client) == created
        for title in panels():
            client.query(runnable(panel_sql(title)))
        assert client.query(runnable(alert_sql())).result_rows == []
