"""What the MART drops is explained: documents that bypassed the landing zone's rules (written
straight into the document store, or published to the event log by another producer) reach RAW,
and the MART records each one in mart_rejects with the rule it breaks instead of losing it."""

from __future__ import annotations

import json
import math
import shutil
from typing import Any

import pytest

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.entities import BY_NAME, ENTITIES, PURCHASES, STORES, Stage
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.resources.events import SqliteEventLogResource

from .past_the_rules import DROP, land_past_the_rules, load_downstream, template
from .platforms import Platform, check_results, local_platform, make_platform, materialization, rows, table_rows

NOT_TEXT = "missing, not a string or blank"
NOT_AN_AMOUNT = "not a positive amount that fits Decimal(12, 2)"
STORE_DATE = "last_inventory_date: missing, unparseable or outside [1970-01-02, today]"
BIRTH_DATE = "birth_date: missing, unparseable or outside [1900-01-01, today]"
REGISTERED = "registration_date: missing, unparseable or outside [1970-01-02, now]"
PURCHASED = "purchase_datetime: missing, unparseable or outside [1970-01-02, now]"
UPDATED = "updated_at: unparseable or outside [1970-01-02, now]"

# (entity, source file / RAW key, changes to a good document, the reason mart_rejects must give).
# Where the natural key itself is broken, the RAW key is the broken value the producer published.
BAD_DOCUMENTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("stores", "store-blank-id", {"store_id": "  "}, f"store_id: {NOT_TEXT}"),
    ("stores", "store-no-name", {"store_name": DROP}, f"store_name: {NOT_TEXT}"),
    ("stores", "store-future-inventory", {"last_inventory_date": "2999-01-01"}, STORE_DATE),
    ("stores", "store-1970-inventory", {"last_inventory_date": "1970-01-01"}, STORE_DATE),
    ("stores", "store-garbage-inventory", {"last_inventory_date": "last tuesday"}, STORE_DATE),
    ("stores", "store-garbage-update", {"updated_at": "last tuesday"}, UPDATED),
    ("products", "prd-empty-id", {"id": ""}, f"id: {NOT_TEXT}"),
    ("products", "prd-numeric-name", {"name": 42}, f"name: {NOT_TEXT}"),
    ("products", "prd-free", {"price": 0}, f"price: {NOT_AN_AMOUNT}"),
    ("products", "prd-negative", {"price": -5.5}, f"price: {NOT_AN_AMOUNT}"),
    ("products", "prd-string-price", {"price": "181.19"}, f"price: {NOT_AN_AMOUNT}"),
    ("products", "prd-too-expensive", {"price": 1e10}, f"price: {NOT_AN_AMOUNT}"),
    ("products", "prd-numeric-update", {"updated_at": 20240101}, UPDATED),
    ("customers", "cus-tab-id", {"customer_id": "\t"}, f"customer_id: {NOT_TEXT}"),
    ("customers", "cus-no-first-name", {"first_name": DROP}, f"first_name: {NOT_TEXT}"),
    ("customers", "cus-numeric-last-name", {"last_name": 7}, f"last_name: {NOT_TEXT}"),
    ("customers", "cus-born-1899", {"birth_date": "1899-12-31"}, BIRTH_DATE),
    ("customers", "cus-unborn", {"birth_date": "2999-01-01"}, BIRTH_DATE),
    ("customers", "cus-no-registration", {"registration_date": DROP}, REGISTERED),
    ("customers", "cus-registered-1970", {"registration_date": "1970-01-01T12:00:00+00:00"}, REGISTERED),
    ("customers", "cus-registered-yesterday", {"registration_date": "yesterday"}, REGISTERED),
    ("customers", "cus-registered-2999", {"registration_date": "2999-01-01T00:00:00+03:00"}, REGISTERED),
    ("customers", "cus-updated-2999", {"updated_at": "2999-01-01T00:00:00Z"}, UPDATED),
    ("purchases", "ord-blank-id", {"purchase_id": " "}, f"purchase_id: {NOT_TEXT}"),
    ("purchases", "ord-no-customer", {"customer.customer_id": DROP}, f"customer.customer_id: {NOT_TEXT}"),
    ("purchases", "ord-blank-store", {"store.store_id": ""}, f"store.store_id: {NOT_TEXT}"),
    ("purchases", "ord-string-total", {"total_amount": "7152.41"}, f"total_amount: {NOT_AN_AMOUNT}"),
    ("purchases", "ord-negative-total", {"total_amount": -1}, f"total_amount: {NOT_AN_AMOUNT}"),
    ("purchases", "ord-overflowing-total", {"total_amount": 12345678901.5}, f"total_amount: {NOT_AN_AMOUNT}"),
    # JSON has no NaN: a document holding one reaches Kafka with null there (orjson), which the MART refuses.
    ("purchases", "ord-nan-total", {"total_amount": math.nan}, f"total_amount: {NOT_AN_AMOUNT}"),
    ("purchases", "ord-future", {"purchase_datetime": "2999-01-01T00:00:00+03:00"}, PURCHASED),
    ("purchases", "ord-1969", {"purchase_datetime": "1969-12-31T23:00:00+00:00"}, PURCHASED),
    ("purchases", "ord-not-iso-date", {"purchase_datetime": "31/12/2024"}, PURCHASED),
    ("purchases", "ord-no-items", {"items": []}, "items: missing, not an array or empty"),
    ("purchases", "ord-items-text", {"items": "none"}, "items: missing, not an array or empty"),
    (
        "purchases",
        "ord-too-many-lines",
        {"items": [{"product_id": "p", "quantity": 1, "price_per_unit": 1, "total_price": 1}] * 65_536},
        "items: more than 65535 lines (line_no is a UInt16)",
    ),
    ("purchases", "ord-line-not-object", {"items.1": "milk"}, "items[2]: not a JSON object"),
    ("purchases", "ord-line-no-product", {"items.0.product_id": DROP}, f"items[1].product_id: {NOT_TEXT}"),
    ("purchases", "ord-line-zero-quantity", {"items.1.quantity": 0}, "items[2].quantity: not a positive number"),
    ("purchases", "ord-line-text-quantity", {"items.0.quantity": "2"}, "items[1].quantity: not a positive number"),
    ("purchases", "ord-line-negative-price", {"items.1.price_per_unit": -3}, f"items[2].price_per_unit: {NOT_AN_AMOUNT}"),
    ("purchases", "ord-line-huge-total", {"items.0.total_price": 1e12}, f"items[1].total_price: {NOT_AN_AMOUNT}"),
    ("purchases", "ord-updated-1969", {"updated_at": "1969-12-31T23:59:59Z"}, UPDATED),
]
# One good document per entity, new to the MART and on the edge of a rule, landed the same way.
GOOD_DOCUMENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("stores", "store-new", {"last_inventory_date": "1970-01-02", "updated_at": None}),  # null: no updated_at
    ("products", "prd-new", {"price": 9999999999.99}),
    ("customers", "cus-new", {"registration_date": "1970-01-02T00:00:00+00:00", "birth_date": "1900-01-01"}),
    ("purchases", "ord-new", {"total_amount": 0.005}),
]


def raw_key(entity: str, name: str, changes: dict) -> str:
    key_field = BY_NAME[entity].key
    return changes.get(key_field, name)


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory):
    """A default run, then the bad and good documents landed past the rules and loaded to MART."""
    with local_platform(tmp_path_factory.mktemp("rejects")) as platform:
        assert platform.run().success
        land_past_the_rules(platform, [(e, n, c) for e, n, c, _ in BAD_DOCUMENTS] + GOOD_DOCUMENTS)
        result = load_downstream(platform)
        assert result.success
    return platform, result


def test_every_broken_rule_is_recorded_with_field_and_rule(rejected):
    platform, _ = rejected
    recorded = {
        (entity, key): reason for entity, key, reason in rows(platform, "SELECT entity, key, reason FROM mart_rejects FINAL")
    }
    expected = {(entity, raw_key(entity, name, changes)): reason for entity, name, changes, reason in BAD_DOCUMENTS}
    assert recorded == expected


def test_rejected_rows_are_absent_from_the_mart_and_good_ones_present(rejected):
    platform, _ = rejected
    for entity in ENTITIES:
        bad = [raw_key(e, n, c) for e, n, c, _ in BAD_DOCUMENTS if e == entity.name]
        (good,) = [n for e, n, _ in GOOD_DOCUMENTS if e == entity.name]
        assert mart_rows_from(platform, entity, bad) == 0, entity.name
        assert mart_rows_from(platform, entity, [good]) == 1, entity.name
    assert rows(platform, "SELECT count() FROM stores_mart FINAL")[0][0] == 46
    assert rows(platform, "SELECT count() FROM purchases_mart FINAL")[0][0] == 201


def test_item_lines_of_a_rejected_purchase_are_not_loaded(rejected):
    platform, _ = rejected
    bad = [raw_key(e, n, c) for e, n, c, _ in BAD_DOCUMENTS if e == "purchases"]
    sql = "SELECT count() FROM purchase_items_mart WHERE purchase_id IN {bad:Array(String)}"
    assert rows(platform, sql, bad=bad) == [(0,)]
    ((lines,),) = rows(platform, "SELECT count() FROM purchase_items_mart FINAL WHERE purchase_id = 'ord-new'")
    assert lines == len(template(platform, "purchases")["items"])


def test_the_mart_asset_shows_this_runs_rejects(rejected):
    _, result = rejected
    for entity in ENTITIES:
        figures = materialization(result, entity.asset_name(Stage.MART))
        bad = [(n, r) for e, n, _, r in BAD_DOCUMENTS if e == entity.name]
        assert figures["rejected_this_run"] == figures["rejected_keys"] == len(bad), entity.name
        table = table_rows(figures["first_rejects"])
        assert table[0] == ("key", "partition", "offset", "reason")
        assert len(table) == 1 + min(len(bad), 10)
    # Published in source-id order after the 200 generated purchases: the first reject is at offset 200.
    first, reason = min((n, r) for e, n, _, r in BAD_DOCUMENTS if e == "purchases")
    first_row = table_rows(materialization(result, "purchases_mart")["first_rejects"])[1]
    assert first_row == (first, 0, 200, reason)


def test_reconcile_passes_when_every_missing_key_has_a_recorded_reason(rejected):
    _, result = rejected
    for entity in ENTITIES:
        check = check_results(result)[f"{entity.asset_name(Stage.MART)}:counts_reconcile"]
        figures = {name: value.value for name, value in check.metadata.items()}
        assert check.passed, entity.name
        bad = sum(1 for e, *_ in BAD_DOCUMENTS if e == entity.name)
        assert figures["mart_rejected_keys"] == bad
        assert figures["raw_unique_keys"] == figures["mart_rows"] + bad
        assert "unreconciled_keys" not in figures
        dropped = table_rows(figures["mart_rejected_examples"])[1:]
        assert sum(why.count("dropped by the MART: ") for _, why in dropped) == min(bad, 10)


def mart_rows_from(platform: Platform, entity, keys: list[str]) -> int:
    """MART rows whose RAW row carries one of these keys."""
    ((count,),) = rows(
        platform,
        "SELECT count() FROM {mart:Identifier} FINAL WHERE (_partition, _offset) IN "
        "(SELECT partition, offset FROM {raw:Identifier} WHERE key IN {keys:Array(String)})",
        mart=entity.mart_table,
        raw=entity.raw_table,
        keys=keys,
    )
    return count


def test_reconcile_names_the_keys_that_do_not_reconcile_and_why(loaded_copy):
    stores = loaded_copy.settings.data_dir / "stores"
    for gone in ("store-001", "store-002"):
        (stores / f"{gone}.json").unlink()
    shutil.copy(stores / "store-010.json", stores / "store-unloaded.json")
    land_past_the_rules(loaded_copy, [("stores", "store-unpublished-1", {}), ("stores", "store-unpublished-2", {})])
    with loaded_copy.resource("kafka").open() as log:
        log.publish("stores", [OutgoingMessage("store-ghost", b"[1, 2]")])
    assert loaded_copy.run("stores_clickhouse_raw stores_mart").success
    with loaded_copy.resource("clickhouse").client() as client:
        client.command("DELETE FROM stores_mart WHERE store_id = 'store-003'")

    result = loaded_copy.run("stores_mart")
    check = check_results(result)["stores_mart:counts_reconcile"]
    assert not check.passed
    assert table_rows(check.metadata["unreconciled_keys"].value)[1:] == [
        ("files → MongoDB", "store-unloaded.json", "neither in MongoDB nor in the rejects file: not loaded yet"),
        ("MongoDB → RAW", "store-ghost", "in RAW, not in MongoDB: its documents were removed, or another producer published it"),
        ("MongoDB → RAW", "store-unpublished-1", "in MongoDB, not in RAW: not yet published"),
        ("MongoDB → RAW", "store-unpublished-2", "in MongoDB, not in RAW: not yet published"),
        ("RAW → MART", "store-003", "in RAW, not in the MART: no reason recorded"),
    ]
    assert check.metadata["documents_without_record"].value == 2  # store-001 and 002: kept, counted apart
    assert table_rows(check.metadata["mart_rejected_examples"].value)[1:] == [
        ("store-ghost", "dropped by the MART: payload: not a JSON object")
    ]


def test_a_message_that_is_not_json_is_rejected_as_such(loaded_copy):
    """Another producer may publish what is not JSON (a NaN, here); the MART records why."""
    with loaded_copy.resource("kafka").open() as log:
        log.publish("stores", [OutgoingMessage("store-nan", b'{"store_id": "store-nan", "store_name": NaN}')])
    assert loaded_copy.run("stores_clickhouse_raw stores_mart").success
    assert rows(loaded_copy, "SELECT key, reason FROM mart_rejects FINAL WHERE entity = 'stores'") == [
        ("store-nan", "payload: not valid JSON (a NaN or Infinity, for instance)")
    ]


def test_a_record_published_under_another_key_is_rejected(loaded_copy):
    """Another producer may key a message otherwise than its record: such a version would sit on
    another Kafka partition than its key's, where offsets do not order versions, so it never competes."""
    store = json.loads((loaded_copy.settings.data_dir / "stores" / "store-001.json").read_text(encoding="utf-8"))
    del store["manager"]  # its phone and email are clear text
    store.update(store_name="Elsewhere", updated_at="2025-01-01T00:00:00Z")
    before = rows(loaded_copy, "SELECT * FROM stores_mart FINAL WHERE store_id = 'store-001'")
    with loaded_copy.resource("kafka").open() as log:
        log.publish("stores", [OutgoingMessage("store-other", json.dumps(store).encode())])
    assert loaded_copy.run("stores_clickhouse_raw stores_mart").success
    assert rows(loaded_copy, "SELECT key, reason FROM mart_rejects FINAL WHERE entity = 'stores'") == [
        ("store-other", "store_id: differs from the Kafka message key")
    ]
    assert rows(loaded_copy, "SELECT * FROM stores_mart FINAL WHERE store_id = 'store-001'") == before


def test_a_key_loaded_into_raw_is_not_judged_until_the_mart_runs(loaded_copy):
    land_past_the_rules(loaded_copy, [("stores", "store-late", {})])
    assert loaded_copy.run("stores_kafka_topic stores_clickhouse_raw").success
    with loaded_copy.resource("clickhouse").client() as client:
        fates = mart_load.key_fates(client, STORES)
    assert {fate: found.keys for fate, found in fates.items()} == {mart_load.KEPT: 45, mart_load.NOT_JUDGED: 1}
    assert fates[mart_load.NOT_JUDGED].examples == [("store-late", "")]
    assert loaded_copy.run("stores_mart").success
    with loaded_copy.resource("clickhouse").client() as client:
        fates = mart_load.key_fates(client, STORES)
    assert {fate: found.keys for fate, found in fates.items()} == {mart_load.KEPT: 46}


@pytest.mark.parametrize(
    "table, never_true",
    [("purchase_items_mart", "line_no = 0"), ("mart_watermarks", "next_offset = 0")],
    ids=["between-the-two-marts", "before-the-watermark"],
)
def test_a_mart_run_that_dies_midway_is_redone_by_the_next_one(loaded_copy, table, never_true):
    landed = [("purchases", n, c) for e, n, c, _ in BAD_DOCUMENTS if e == "purchases"] + [("purchases", "ord-new", {})]
    land_past_the_rules(loaded_copy, landed)
    assert loaded_copy.run("purchases_kafka_topic purchases_clickhouse_raw").success

    execute(loaded_copy, f"ALTER TABLE {table} ADD CONSTRAINT dies_here CHECK {never_true}")
    assert not loaded_copy.run("purchases_mart").success
    assert purchase_watermark(loaded_copy) == 200  # the dead run's range is still to do
    assert mart_rows_from(loaded_copy, PURCHASES, ["ord-new"]) == 1  # though part of it was written

    execute(loaded_copy, f"ALTER TABLE {table} DROP CONSTRAINT dies_here")
    rerun = loaded_copy.run("purchases_mart")
    assert materialization(rerun, "purchases_mart")["judged_rows"] == len(landed)
    recovered = purchases_mart_state(loaded_copy)
    assert purchase_watermark(loaded_copy) == 200 + len(landed)
    assert len(recovered["mart_rejects"]) == len(landed) - 1

    for statement in (
        "TRUNCATE TABLE purchases_mart",
        "TRUNCATE TABLE purchase_items_mart",
        "DELETE FROM mart_rejects WHERE entity = 'purchases'",
        "DELETE FROM mart_watermarks WHERE entity = 'purchases'",
    ):
        execute(loaded_copy, statement)
    assert loaded_copy.run("purchases_mart").success
    assert purchases_mart_state(loaded_copy) == recovered


def test_each_raw_partition_keeps_its_own_watermark(tmp_path, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    kafka = SqliteEventLogResource(path=str(tmp_path / "state" / "kafka.sqlite3"), partitions=3)
    platform = make_platform(tmp_path, kafka=kafka)
    first = platform.run()
    assert first.success and all(check.passed for check in check_results(first).values())
    for entity in ENTITIES:
        sql = "SELECT partition, max(offset) + 1 FROM {raw:Identifier} GROUP BY 1 ORDER BY 1"
        ends = rows(platform, sql, raw=entity.raw_table)
        assert [p for p, _ in ends] == [0, 1, 2]
        assert (
            rows(
                platform,
                "SELECT partition, next_offset FROM mart_watermarks FINAL WHERE entity = {entity:String} ORDER BY 1",
                entity=entity.name,
            )
            == ends
        )

    second = platform.run()
    assert second.success and all(check.passed for check in check_results(second).values())
    assert {materialization(second, e.asset_name(Stage.MART))["judged_rows"] for e in ENTITIES} == {0}


def test_a_state_from_before_rejects_and_watermarks_is_taken_over(loaded_copy):
    """Older code left the MART tables filled, with none of the objects the MART step now adds."""
    before = {table: rows(loaded_copy, f"SELECT * FROM {table} FINAL ORDER BY ALL") for e in ENTITIES for table in e.marts}
    for statement in (
        *(f"DROP VIEW {mart_load.checked_view(e.mart_table)}" for e in ENTITIES),
        "DROP TABLE mart_rejects",
        "DROP TABLE mart_watermarks",
    ):
        execute(loaded_copy, statement)

    result = loaded_copy.run(" ".join(e.asset_name(Stage.MART) for e in ENTITIES))
    assert result.success and all(check.passed for check in check_results(result).values())
    assert materialization(result, "purchases_mart")["judged_rows"] == 200
    after = {table: rows(loaded_copy, f"SELECT * FROM {table} FINAL ORDER BY ALL") for table in before}
    assert after == before


def execute(platform: Platform, statement: str) -> None:
    with platform.resource("clickhouse").client() as client:
        client.command(statement)


def purchase_watermark(platform: Platform) -> int:
    return rows(platform, "SELECT next_offset FROM mart_watermarks FINAL WHERE entity = 'purchases'")[0][0]


def purchases_mart_state(platform: Platform) -> dict[str, list[tuple]]:
    """What the purchases MART step leaves behind (run ids and timestamps of rejects aside)."""
    state = {table: rows(platform, f"SELECT * FROM {table} FINAL ORDER BY ALL") for table in PURCHASES.marts}
    state["mart_rejects"] = rows(
        platform, "SELECT key, partition, offset, reason FROM mart_rejects FINAL WHERE entity = 'purchases' ORDER BY ALL"
    )
    return state
