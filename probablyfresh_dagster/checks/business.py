"""What the chain says its data must look like, judged on the MART tables."""

import dagster as dg

from probablyfresh_dagster.assets.clickhouse import CLICKHOUSE_POOL
from probablyfresh_dagster.entities import CUSTOMERS, PRODUCTS, PURCHASES, STORES
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.sql import query

STORES_BY_NETWORK = {"almost": 30, "maybe": 15}
PRODUCT_CATEGORIES, PRODUCTS_PER_CATEGORY = 5, 20
MIN_PURCHASES = 200


@dg.asset_check(asset=STORES.asset("mart"), pool=CLICKHOUSE_POOL, description="45 stores: 30 Almost + 15 Maybe.")
def stores_count(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.client() as client:
        found = dict(query(client, "queries/stores_by_network").result_rows)
    return dg.AssetCheckResult(
        passed=found == STORES_BY_NETWORK,
        metadata={"stores": sum(found.values()), "by_network": found, "expected": STORES_BY_NETWORK},
    )


@dg.asset_check(asset=PRODUCTS.asset("mart"), pool=CLICKHOUSE_POOL, description="20 products in each of the 5 categories.")
def products_per_category(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.client() as client:
        found = dict(query(client, "queries/products_by_category").result_rows)
    return dg.AssetCheckResult(
        passed=len(found) == PRODUCT_CATEGORIES and set(found.values()) == {PRODUCTS_PER_CATEGORY},
        metadata={"by_category": found, "expected_per_category": PRODUCTS_PER_CATEGORY},
    )


@dg.asset_check(asset=PURCHASES.asset("mart"), pool=CLICKHOUSE_POOL, description="At least 200 purchases.")
def purchases_at_least_200(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.client() as client:
        purchases = query(client, "queries/table_rows", table=PURCHASES.mart_table).first_row[0]
    return dg.AssetCheckResult(
        passed=purchases >= MIN_PURCHASES, metadata={"purchases": purchases, "minimum": MIN_PURCHASES}
    )


@dg.asset_check(
    asset=CUSTOMERS.asset("mart"),
    additional_deps=[STORES.asset("mart")],
    pool=CLICKHOUSE_POOL,
    description="Every store has at least one customer (by purchase_location: its store_id, else its address).",
)
def every_store_has_a_customer(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.client() as client:
        lonely = [row[0] for row in query(client, "queries/stores_without_customers").result_rows]
        unmatched, first = query(client, "queries/customers_without_store", limit=10).first_row
    return dg.AssetCheckResult(
        passed=not lonely,
        metadata={
            "stores_without_customers": len(lonely),
            "first": lonely[:10],
            "customers_without_store": unmatched,
            "first_customers_without_store": ", ".join(f"{key} ({reason})" for key, reason in first),
        },
    )


BUSINESS_CHECKS = [stores_count, products_per_category, purchases_at_least_200, every_store_has_a_customer]
