"""What a run of the whole asset graph must leave: every check passed and every MART as expected."""

from __future__ import annotations

from probablyfresh_dagster.entities import ENTITIES

from .platforms import check_results, materialization, rows

CHECKS = {
    *(f"{e.name}_kafka_topic:no_clear_text_pii" for e in ENTITIES),
    *(f"{e.name}_clickhouse_raw:no_clear_text_pii" for e in ENTITIES),
    *(f"{e.name}_mart:duplicate_share" for e in ENTITIES),
    *(f"{e.name}_mart:counts_reconcile" for e in ENTITIES),
    "stores_mart:stores_count",
    "products_mart:products_per_category",
    "purchases_mart:purchases_minimum",
    "purchases_mart:purchase_totals_match_lines",
    "customers_mart:every_store_has_a_customer",
    "purchases_mart:every_purchase_refers_to_known_entities",
}


def assert_whole_graph_passed(platform, result, purchases: int = 200) -> None:
    """A run of the whole graph at the default volume (`purchases` aside): every check passed and
    every MART holds what it should."""
    assert result.success
    checks = check_results(result)
    assert set(checks) == CHECKS
    assert [name for name, check in checks.items() if not check.passed] == []

    assert rows(platform, "SELECT store_network, count() FROM stores_mart FINAL GROUP BY 1 ORDER BY 1") == [
        ("almost", 30),
        ("maybe", 15),
    ]
    assert rows(
        platform,
        "SELECT uniqExact(category), min(c), max(c) FROM "
        "(SELECT category, count() AS c FROM products_mart FINAL GROUP BY category)",
    ) == [(5, 20, 20)]
    assert rows(platform, "SELECT count() FROM customers_mart FINAL")[0][0] == 45
    assert rows(platform, "SELECT count() FROM purchases_mart FINAL")[0][0] == purchases
    ((items, lines, totals_match),) = rows(
        platform,
        "SELECT (SELECT count() FROM purchase_items_current), (SELECT sum(items_count) FROM purchases_mart FINAL),"
        " (SELECT sum(total_amount) FROM purchases_mart FINAL) = (SELECT sum(total_price) FROM purchase_items_current)",
    )
    assert items == lines and totals_match
    assert rows(platform, "SELECT countIf(store_name != lowerUTF8(store_name)) FROM stores_mart FINAL")[0][0] == 0
    assert materialization(result, "purchases_mart")["duplicate_percentage"] == 0.0
