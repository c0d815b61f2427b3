"""What the chain says its data must look like, judged on the MART tables against `Expectations`.

`stores_count`, `products_per_category`, `purchases_minimum` and `purchase_totals_match_lines`
judge one entity's MART each, in that asset's step; `every_store_has_a_customer` (customers and
stores) and `every_purchase_refers_to_known_entities` (purchases and the three others) read
several and run as steps of their own once those are built.
"""

import dagster as dg

from probablyfresh_dagster.checks.mart_step import MartCheck, MartStep
from probablyfresh_dagster.entities import CUSTOMERS, PRODUCTS, PURCHASES, STORES, Stage
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL, CLICKHOUSE_STEP, ClickHouseResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.sql import one_row, query, run_script
from probablyfresh_dagster.verdicts import judged


def stores_count(step: MartStep) -> dg.AssetCheckResult:
    by_network = query(step.client, "queries/stores_by_network").result_rows
    found: dict[str, int] = {network: stores for network, stores in by_network}
    wanted = step.expectations.networks()
    stores = sum(found.values())
    return dg.AssetCheckResult(
        asset_key=STORES.asset_key(Stage.MART),
        check_name="stores_count",
        passed=found == wanted,
        description=f"{stores} stores: {_listing(found)} — expected {_listing(wanted)}",
        metadata={"stores": stores, "by_network": _listing(found), "expected": _listing(wanted)},
    )


def products_per_category(step: MartStep) -> dg.AssetCheckResult:
    by_category = query(step.client, "queries/products_by_category").result_rows
    found: dict[str, int] = {category: products for category, products in by_category}
    expected = step.expectations
    wanted = dict.fromkeys(expected.categories(), expected.products_per_category)
    products = sum(found.values())
    described = (
        f"{products} products in {len(found)} categories ({_listing(found, ': ', '; ')}) — expected "
        f"{expected.products_per_category} in each of the {len(wanted)} categories"
    )
    if missing := [category for category in wanted if category not in found]:
        described += f"; none in {'; '.join(missing)}"
    if unexpected := [category for category in found if category not in wanted]:
        described += f"; not expected: {'; '.join(unexpected)}"
    return dg.AssetCheckResult(
        asset_key=PRODUCTS.asset_key(Stage.MART),
        check_name="products_per_category",
        passed=found == wanted,
        description=described,
        metadata={
            "products": products,
            "by_category": _listing(found, ": ", "; "),
            "expected": _listing(wanted, ": ", "; "),
        },
    )


def purchases_minimum(step: MartStep) -> dg.AssetCheckResult:
    purchases = one_row(step.client, "queries/table_rows", table=PURCHASES.mart_table)[0]
    expected = step.expectations
    return dg.AssetCheckResult(
        asset_key=PURCHASES.asset_key(Stage.MART),
        check_name="purchases_minimum",
        passed=purchases >= expected.min_purchases,
        description=f"{purchases} purchases — expected at least {expected.min_purchases}",
        metadata={"purchases": purchases, "minimum": dg.MetadataValue.text(str(expected.min_purchases))},
    )


def purchase_totals_match_lines(step: MartStep) -> dg.AssetCheckResult:
    purchases, off, first = one_row(step.client, "queries/purchase_totals_off", limit=EXAMPLES_SHOWN)
    named = ", ".join(f"{key} ({difference:+})" for key, difference in first)
    described = f"{off} of {purchases} purchases have a total_amount more than 0.01 off the sum of their lines"
    return dg.AssetCheckResult(
        asset_key=PURCHASES.asset_key(Stage.MART),
        check_name="purchase_totals_match_lines",
        passed=off == 0,
        description=described + (f": {named}" if off else ""),
        metadata={"purchases": purchases, "totals_off": off, "first": named},
    )


BUSINESS_CHECKS = {
    STORES.name: (MartCheck("stores_count", "The stores of each network, as expected (`store_networks`).", stores_count),),
    PRODUCTS.name: (
        MartCheck(
            "products_per_category",
            "`products_per_category` products in each of the expected `product_categories`, and no other category.",
            products_per_category,
        ),
    ),
    PURCHASES.name: (
        MartCheck("purchases_minimum", "At least `min_purchases` purchases.", purchases_minimum),
        MartCheck(
            "purchase_totals_match_lines",
            "Every purchase's `total_amount` is within a cent of the sum of its lines' `total_price`; "
            f"names the first {EXAMPLES_SHOWN} that are not, with the difference.",
            purchase_totals_match_lines,
        ),
    ),
}
"""The business checks judged in an entity's MART step, by entity name."""


@dg.asset_check(
    asset=CUSTOMERS.asset_key(Stage.MART),
    additional_deps=[STORES.asset_key(Stage.MART)],
    pool=CLICKHOUSE_POOL,
    op_tags=CLICKHOUSE_STEP,
    description=(
        "Every store has at least `customers_per_store` customers: a customer's store is its "
        "`purchase_location.store_id`, else the store at its `purchase_location` address."
    ),
)
def every_store_has_a_customer(
    context: dg.AssetCheckExecutionContext, clickhouse: ClickHouseResource, expectations: Expectations
) -> dg.AssetCheckResult:
    return judged(context, _stores_customers(clickhouse, expectations))


def _stores_customers(clickhouse: ClickHouseResource, expectations: Expectations) -> dg.AssetCheckResult:
    minimum = expectations.customers_per_store
    with clickhouse.client() as client:
        run_script(client, "customer_stores")
        short = query(client, "queries/stores_without_customers", minimum=minimum).result_rows
        stores = one_row(client, "queries/table_rows", table=STORES.mart_table)[0]
        unmatched, first = one_row(client, "queries/customers_without_store", limit=EXAMPLES_SHOWN)
    short_stores = ", ".join(f"{store} ({customers})" for store, customers in short[:EXAMPLES_SHOWN])
    unmatched_customers = ", ".join(f"{key} ({reason})" for key, reason in first)
    described = f"{stores - len(short)} of {stores} stores have at least {minimum} customer{'' if minimum == 1 else 's'}"
    if short:
        described += f"; short: {short_stores}"
    described += f"; {unmatched} customers match no store" + (f": {unmatched_customers}" if unmatched else "")
    return dg.AssetCheckResult(
        passed=not short,
        description=described,
        metadata={
            "stores_without_customers": len(short),
            "first": short_stores,
            "customers_without_store": unmatched,
            "first_customers_without_store": unmatched_customers,
            "minimum": dg.MetadataValue.text(str(minimum)),
        },
    )


REFERENCED = (STORES, CUSTOMERS, PRODUCTS)
"""The entities a purchase refers to: its store, its customer, its lines' products."""


@dg.asset_check(
    asset=PURCHASES.asset_key(Stage.MART),
    additional_deps=[entity.asset_key(Stage.MART) for entity in REFERENCED],
    pool=CLICKHOUSE_POOL,
    op_tags=CLICKHOUSE_STEP,
    description=(
        "Every purchase's store, customer and lines' products are in stores_mart, customers_mart and "
        f"products_mart; names the first {EXAMPLES_SHOWN} purchases that refer to one that is not, and what."
    ),
)
def every_purchase_refers_to_known_entities(
    context: dg.AssetCheckExecutionContext, clickhouse: ClickHouseResource
) -> dg.AssetCheckResult:
    return judged(context, _purchase_references(clickhouse))


def _purchase_references(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.client() as client:
        wanted = [entity.mart_table for entity in (PURCHASES, *REFERENCED)]
        built = {name for (name,) in query(client, "queries/existing_tables", tables=wanted).result_rows}
        if missing := [table for table in wanted if table not in built]:
            return dg.AssetCheckResult(passed=False, description=f"not judged: {', '.join(missing)} not built yet")
        purchases, unknown, stores, customers, products, first = one_row(
            client, "queries/purchases_with_unknown_references", limit=EXAMPLES_SHOWN
        )
    named = ", ".join(f"{key} ({', '.join(kinds)})" for key, kinds in first)
    described = (
        f"{unknown} of {purchases} purchases refer to what the MART does not hold: {stores} to an unknown "
        f"store, {customers} to an unknown customer, {products} to an unknown product"
    )
    return dg.AssetCheckResult(
        passed=unknown == 0,
        description=described + (f"; first: {named}" if unknown else ""),
        metadata={
            "purchases": purchases,
            "purchases_with_unknown": unknown,
            "unknown_store": stores,
            "unknown_customer": customers,
            "unknown_product": products,
            "first": named,
        },
    )


def _listing(counts: dict[str, int], between: str = " ", separator: str = ", ") -> str:
    return separator.join(f"{name}{between}{count}" for name, count in counts.items()) or "none"
