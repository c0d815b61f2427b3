"""A customer's store is purchase_location.store_id, else the one store at its purchase_location
address: the source documents' own generator writes a store's location there, without store_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probablyfresh_dagster.entities import CUSTOMERS, LOAD_STAGES, STORES
from probablyfresh_dagster.sql import query

from .platforms import Platform, check_results, copied_platform, rows

CHECK = "customers_mart:every_store_has_a_customer"
NO_MATCH = "no store_id and no address match"
UNKNOWN_STORE = "store_id not a known store"
SEVERAL = "address matches several stores"


def reload(platform: Platform, *entities) -> dict:
    """Land the entities' files again and carry them to the MART; the checks that ran, by name."""
    result = platform.run(" ".join(entity.asset_name(stage) for entity in entities for stage in LOAD_STAGES))
    assert result.success
    return check_results(result)


def read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def write(folder: Path, name: str, document: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def seed_shaped(platform: Platform, customer_id: str, purchase_location: dict) -> None:
    """Give a customer file this purchase_location, in place of the one it has."""
    folder = platform.settings.data_dir / "customers"
    write(folder, customer_id, {**read(folder, customer_id), "purchase_location": purchase_location})


def location(platform: Platform, store_id: str) -> dict:
    """The store's location object, as the seed's generator copies it into a customer."""
    return read(platform.settings.data_dir / "stores", store_id)["location"]


@pytest.fixture(scope="module")
def matched(loaded: Platform, tmp_path_factory: pytest.TempPathFactory) -> tuple[Platform, dict]:
    """The generated 45 stores with one customer each (cus-1000 is store-001's, and so on), then:
    store-006 moved to store-005's address, cus-1000 keeps its store_id and every other customer
    only has its store's location (seed 001's shape), except the five below."""
    platform = copied_platform(loaded.settings.state_dir.parent, tmp_path_factory.mktemp("customer_stores"))
    stores = platform.settings.data_dir / "stores"
    write(stores, "store-006", {**read(stores, "store-006"), "location": location(platform, "store-005")})
    for number in range(1, 45):
        seed_shaped(platform, f"cus-{1000 + number}", location(platform, f"store-{number + 1:03d}"))
    seed_shaped(platform, "cus-1002", {**location(platform, "store-003"), "street": "нет такой улицы"})
    seed_shaped(platform, "cus-1003", {"store_id": "store-999", **location(platform, "store-004")})
    seed_shaped(
        platform,
        "cus-1006",
        {  # blank store_id; the address in other case than the store's
            **location(platform, "store-007"),
            "store_id": " ",
            "city": location(platform, "store-007")["city"].upper(),
            "street": location(platform, "store-007")["street"].upper(),
        },
    )
    seed_shaped(platform, "cus-1008", {"store_id": "store-001", **location(platform, "store-009")})
    return platform, reload(platform, STORES, CUSTOMERS)[CHECK]


def test_stores_without_customers_follow_store_id_then_a_unique_address(matched):
    """store-003: its customer's street is no store's; store-004: its customer names an unknown
    store_id (the address, though store-004's, is not looked at); store-005 and store-006: share
    their address; store-009: its customer's store_id (store-001) wins over store-009's address.
    The 38 other stores are found through their customers' addresses alone, store-007 through an
    address in upper case and a blank store_id."""
    platform, check = matched
    assert rows(platform, "SELECT count() FROM customers_mart FINAL WHERE store_id = ''")[0][0] == 41
    assert not check.passed
    assert check.metadata["stores_without_customers"].value == 5
    assert check.metadata["first"].value == "store-003 (0), store-004 (0), store-005 (0), store-006 (0), store-009 (0)"
    assert check.description.startswith("40 of 45 stores have at least 1 customer; short: store-003 (0),")


def test_customers_without_store_are_counted_with_the_first_keys_and_why(matched):
    platform, check = matched
    assert check.metadata["customers_without_store"].value == 4
    assert check.metadata["first_customers_without_store"].value == (
        f"cus-1002 ({NO_MATCH}), cus-1003 ({UNKNOWN_STORE}), cus-1004 ({SEVERAL}), cus-1005 ({SEVERAL})"
    )
    with platform.resource("clickhouse").client() as client:
        result = query(client, "queries/customers_without_store", limit=2)
    assert result.column_names == ("customers", "first")
    assert result.first_row == (4, [("cus-1002", NO_MATCH), ("cus-1003", UNKNOWN_STORE)])


def test_a_customer_without_any_purchase_location_matches_no_store(matched):
    """Blank address fields never match, not even a store whose location is as blank."""
    platform, _ = matched
    stores = platform.settings.data_dir / "stores"
    write(stores, "store-009", {key: value for key, value in read(stores, "store-009").items() if key != "location"})
    customers = platform.settings.data_dir / "customers"
    write(customers, "cus-1008", {k: v for k, v in read(customers, "cus-1008").items() if k != "purchase_location"})
    check = reload(platform, STORES, CUSTOMERS)[CHECK]
    assert check.metadata["customers_without_store"].value == 5
    assert f"cus-1008 ({NO_MATCH})" in check.metadata["first_customers_without_store"].value
    assert "store-009" in check.metadata["first"].value


def test_a_customers_mart_from_before_the_address_columns_gains_them(loaded_copy):
    """The columns are added where CREATE puts them, so the MART step's positional insert still
    fits; rows loaded before keep '' until their customer is loaded again."""
    platform = loaded_copy
    with platform.resource("clickhouse").client() as client:
        client.command("ALTER TABLE customers_mart DROP COLUMN street, DROP COLUMN house, DROP COLUMN postal_code")
    for number in range(1, 45):
        seed_shaped(platform, f"cus-{1000 + number}", location(platform, f"store-{number + 1:03d}"))

    check = reload(platform, CUSTOMERS)[CHECK]
    assert check.passed and check.metadata["customers_without_store"].value == 0
    columns = [
        name
        for (name,) in rows(
            platform,
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'customers_mart' ORDER BY position",
        )
    ]
    assert columns[columns.index("city") : columns.index("city") + 4] == ["city", "street", "house", "postal_code"]
    assert rows(platform, "SELECT store_id, street FROM customers_mart FINAL WHERE customer_id = 'cus-1000'") == [
        ("store-001", "")
    ]
