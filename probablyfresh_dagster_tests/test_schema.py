"""The entity schemas on edge cases, and the proof that ClickHouse reads what they accept as they do."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from probablyfresh_dagster.entities import CUSTOMERS, ENTITIES, PRODUCTS, PURCHASES, STORES
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.schema import (
    MAX_AMOUNT,
    MIN_AMOUNT,
    Clock,
    Date,
    DateTime,
    Invalid,
    ListOf,
    Number,
    Record,
    Text,
)

from .document_edits import changed, without

CLOCK = Clock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One generated document per entity."""
    root = tmp_path_factory.mktemp("generated")
    generate(GeneratorConfig(almost_stores=1, maybe_stores=0, products_per_category=1, purchases=1), root)
    return {entity.name: json.loads(next((root / entity.name).glob("*.json")).read_text(encoding="utf-8")) for entity in ENTITIES}


def refusal(schema: Record | Any, value: Any) -> tuple[str, str]:
    with pytest.raises(Invalid) as refused:
        schema.check(value, CLOCK)
    return refused.value.field, refused.value.reason


def test_generated_documents_pass_and_every_mart_rule_refuses_its_breach(good):
    clock = Clock.current()
    for entity in ENTITIES:
        entity.schema.check(good[entity.name], clock)
    breaches = [
        (STORES, "store_name", "  ", "store_name", "must not be blank"),
        (STORES, "store_network", "", "store_network", "must not be blank"),
        (STORES, "last_inventory_date", "1970-01-01", "last_inventory_date", "1970-01-01 is before 1970-01-02"),
        (STORES, "location.coordinates", [55.7, 37.6], "location.coordinates", "expected an object, got array"),
        (STORES, "accepts_online_orders", "yes", "accepts_online_orders", "expected a boolean, got string"),
        (PRODUCTS, "id", 1001, "id", "expected a string, got number"),
        (PRODUCTS, "group", None, "group", "required, got null"),
        (PRODUCTS, "price", 0.009, "price", "must be at least 0.01, got 0.009"),
        (PRODUCTS, "price", True, "price", "expected a number, got boolean"),
        (PRODUCTS, "expiry_days", 70_000, "expiry_days", "must be at most 65535, got 70000"),
        (PRODUCTS, "expiry_days", 7.5, "expiry_days", "expected an integer, got 7.5"),
        (PRODUCTS, "kbju.fat", "3", "kbju.fat", "expected a number, got string"),
        (CUSTOMERS, "last_name", "\t", "last_name", "must not be blank"),
        (CUSTOMERS, "birth_date", "1899-12-31", "birth_date", "1899-12-31 is before 1900-01-01"),
        (CUSTOMERS, "birth_date", "2026-11-25", "birth_date", "2026-11-25 is in the future"),
        (CUSTOMERS, "registration_date", "1970-01-01T23:59:59", "registration_date", "is before 1970-01-02"),
        (CUSTOMERS, "preferences.receive_promotions", 1, "preferences.receive_promotions", "expected a boolean"),
        (PURCHASES, "customer.customer_id", "", "customer.customer_id", "must not be blank"),
        (PURCHASES, "store", "store-001", "store", "expected an object, got string"),
        (PURCHASES, "store.location.city", 77, "store.location.city", "expected a string, got number"),
        (PURCHASES, "total_amount", MAX_AMOUNT + 0.01, "total_amount", "must be at most"),
        (PURCHASES, "items", [], "items", "must not be empty"),
        (PURCHASES, "items.0", None, "items[0]", "expected an object, got null"),
        (PURCHASES, "items.0.quantity", 0, "items[0].quantity", "must be positive, got 0"),
        (PURCHASES, "items.0.total_price", -1, "items[0].total_price", "must be at least 0.01, got -1"),
        (PURCHASES, "items.0.manufacturer", "ООО Ромашка", "items[0].manufacturer", "expected an object"),
    ]
    for entity, path, value, field, reason in breaches:
        found = refusal(entity.schema, changed(good[entity.name], path, value))
        assert found[0] == field and reason in found[1], (path, value, found)


def test_the_key_and_missing_required_fields_are_reported_by_name(good):
    for entity in ENTITIES:
        assert refusal(entity.schema, without(good[entity.name], entity.key)) == (entity.key, "required")
    assert refusal(CUSTOMERS.schema, without(good["customers"], "registration_date")) == (
        "registration_date",
        "required",
    )
    assert refusal(PURCHASES.schema, []) == ("(document)", "expected an object, got array")


def test_optional_fields_may_be_absent_or_null(good):
    customer = changed(changed(good["customers"], "loyalty_card_number", None), "delivery_address", None)
    del customer["gender"], customer["phone"]
    CUSTOMERS.schema.check(customer, CLOCK)


def test_every_entity_may_carry_updated_at_checked_as_a_datetime(good):
    for entity in ENTITIES:
        for accepted in ("2026-11-24T11:00:00+03:00", "1970-01-02", None):
            entity.schema.check(changed(good[entity.name], "updated_at", accepted), CLOCK)
        for refused, reason in (
            ("yesterday", "expected an ISO datetime"),
            ("2026-11-24T12:00:01Z", "is in the future"),
            ("1970-01-01T23:59:59Z", "is before 1970-01-02"),
            (1732449600, "expected an ISO datetime (YYYY-MM-DDTHH:MM:SS, optional offset), got number"),
        ):
            found = refusal(entity.schema, changed(good[entity.name], "updated_at", refused))
            assert found[0] == "updated_at" and reason in found[1], (entity.name, refused, found)


def test_amounts_stop_where_decimal_12_2_would_drop_or_overflow():
    amount = Number(required=True, minimum=MIN_AMOUNT, maximum=MAX_AMOUNT)
    for accepted in (0.01, 1, 12.345, 9_999_999_999.99):
        amount.check(accepted, CLOCK)
    for refused in (0, -0.01, 0.0099, 10**10, float("nan"), float("inf"), "12.50", None, False):
        with pytest.raises(Invalid):
            amount.check(refused, CLOCK)


def test_dates_and_datetimes_accept_iso_forms_only_up_to_now_naive_as_utc():
    a_date, a_datetime = Date(), DateTime()
    for accepted in ("2026-11-24", "1970-01-02", "2024-02-29"):
        a_date.check(accepted, CLOCK)
    for refused in ("2026-11-25", "2023-02-29", "24.11.2026", "20261124", "2026-W48-2", "2026-11-24T00:00:00"):
        with pytest.raises(Invalid):
            a_date.check(refused, CLOCK)
    for accepted in (
        "2026-11-24T12:00:00",  # naive: UTC, exactly now
        "2026-11-24 14:59:59+03:00",  # 11:59:59 UTC
        "2026-11-24T12:00:00+00:01",  # 11:59 UTC
        "2026-11-24T11:59:59.999999Z",
        "1970-01-01T23:00:00-01:00",  # 1970-01-02T00:00:00Z, the lower bound
        "2026-11-24",
    ):
        a_datetime.check(accepted, CLOCK)
    for refused in (
        "2026-11-24T12:00:01",
        "2026-11-24T12:00:00-00:01",
        "2026-11-24T15:00:01+03:00",
        "1970-01-01T23:59:59Z",
        "2026-11-24T12:00",  # seconds required: the forms ClickHouse is proven to read alike
        "2026-11-24T24:00:00",
        "2026-11-24T10:00:00+0300",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "garbage",
        "",
    ):
        with pytest.raises(Invalid):
            a_datetime.check(refused, CLOCK)


def test_a_reason_never_quotes_a_text_value(good):
    email, phone = "someone@example.com", "+7 912 345-67-89"
    for path, value in (("birth_date", email), ("registration_date", phone), ("first_name", ["x"])):
        field, reason = refusal(CUSTOMERS.schema, changed(good["customers"], path, value))
        assert field == path and email not in reason and phone not in reason and "912" not in reason


def test_lists_name_the_failing_index_and_cap_their_length():
    items = ListOf(Record({"id": Text(required=True)}), min_items=1, max_items=2)
    assert refusal(items, [{"id": "a"}, {"id": " "}]) == ("[1].id", "must not be blank")
    assert refusal(items, [{"id": "a"}] * 3) == ("(document)", "has 3 items, more than 2")
    assert refusal(items, [{"id": "a"}, 5]) == ("[1]", "expected an object, got number")


def test_every_personal_field_and_the_key_are_declared_as_strings() -> None:
    for entity in ENTITIES:
        assert entity.schema.fields[entity.key] == Text(required=True)
        for path in entity.pii:
            rule: Any = entity.schema
            for name in path.split("."):
                rule = rule.fields[name]
            assert isinstance(rule, Text), (entity.name, path)


def test_clickhouse_reads_every_accepted_form_as_the_schema_does(tmp_path: Path):
    """The MART's own parse functions, on the boundary values the schema accepts."""
    datetimes = [
        "1970-01-02",
        "1970-01-02T00:00:00",
        "1970-01-01T23:00:00-01:00",
        "2024-02-29 23:59:59",
        "2024-01-01T10:00:00+05:30",
        "2024-01-01T10:00:00-12:00",
        "2024-01-01T10:00:00+14:00",
        "2024-01-01T10:00:00.999999Z",
        "2026-11-24T11:59:59",
    ]
    dates = ["1900-01-01", "1970-01-02", "2024-02-29", "2026-11-24"]
    amounts = [0.01, 0.019, 12.345, 9_999_999_999.99]
    for text in datetimes:
        DateTime().check(text, CLOCK)
    for text in dates:
        Date(since=date(1900, 1, 1)).check(text, CLOCK)
    clickhouse = ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}")
    with clickhouse.client() as client:
        read_datetimes = client.query(
            "SELECT toUnixTimestamp(parseDateTimeBestEffortOrZero(arrayJoin({texts:Array(String)}), 'UTC'))",
            parameters={"texts": datetimes},
        ).result_rows
        read_dates = client.query(
            "SELECT toDate32(parseDateTime64BestEffortOrZero(text)), toDate(parseDateTimeBestEffortOrZero(text))"
            " FROM (SELECT arrayJoin({texts:Array(String)}) AS text)",
            parameters={"texts": dates},
        ).result_rows
        read_amounts = client.query(
            "SELECT JSONExtract(arrayJoin({payloads:Array(String)}), 'a', 'Decimal(12, 2)') > 0",
            parameters={"payloads": [json.dumps({"a": amount}) for amount in amounts]},
        ).result_rows
    assert [row[0] for row in read_datetimes] == [int(utc(text).timestamp()) for text in datetimes]
    assert [row[0] for row in read_dates] == [date.fromisoformat(text) for text in dates]
    # The stores' `toDate` reads DateTime, which starts in 1970: only their bound and later.
    assert [row[1] for row in read_dates[1:]] == [date.fromisoformat(text) for text in dates[1:]]
    assert read_amounts == [(True,)] * len(amounts)


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def test_today_is_the_utc_date():
    evening_west_of_utc = Clock(datetime(2026, 11, 24, 23, 30, tzinfo=timezone(timedelta(hours=-3))))
    assert evening_west_of_utc.today == date(2026, 11, 25)
