"""Business integrity of purchases, checked rather than assumed: a purchase refers to a store, a
customer and products the MART holds, and its total is the sum of its lines (to the cent)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, PURCHASES, Stage

from .platforms import Platform, check_results, copied_platform, local_platform

REFERENCES = "purchases_mart:every_purchase_refers_to_known_entities"
TOTALS = "purchases_mart:purchase_totals_match_lines"
LOAD_PURCHASES = " ".join(PURCHASES.asset_name(stage) for stage in LOAD_STAGES)


def lines_total(purchase: dict) -> Decimal:
    return sum((Decimal(str(line["total_price"])) for line in purchase["items"]), Decimal(0))


def bad_purchases(template: dict) -> dict[str, dict]:
    """Copies of a generated purchase, each wrong in one way (or, for the half cent, within the rule)."""
    unknown_product = json.loads(json.dumps(template))
    unknown_product["items"][-1]["product_id"] = "prd-0000"
    return {
        "ord-unknown-store": {**template, "store": {**template["store"], "store_id": "store-999"}},
        "ord-unknown-customer": {**template, "customer": {**template["customer"], "customer_id": "cus-0000"}},
        "ord-unknown-product": unknown_product,
        "ord-total-2-cents-off": {**template, "total_amount": float(lines_total(template) + Decimal("0.02"))},
        "ord-total-half-cent-off": {**template, "total_amount": float(lines_total(template) + Decimal("0.005"))},
    }


@pytest.fixture(scope="module")
def judged(loaded: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default data and the bad purchases, loaded; the purchases checks that ran, by name."""
    platform = copied_platform(loaded.settings.state_dir.parent, tmp_path_factory.mktemp("purchase_checks"))
    folder = platform.settings.data_dir / PURCHASES.name
    template = json.loads((folder / "ord-00001.json").read_text(encoding="utf-8"))
    for key, purchase in bad_purchases(template).items():
        (folder / f"{key}.json").write_text(json.dumps({**purchase, "purchase_id": key}), encoding="utf-8")
    result = platform.run(LOAD_PURCHASES)
    assert result.success
    return check_results(result)


def test_purchases_referring_to_an_unknown_store_customer_or_product_are_counted_and_named(judged):
    check = judged[REFERENCES]
    assert not check.passed
    assert check.description == (
        "3 of 205 purchases refer to what the MART does not hold: 1 to an unknown store, 1 to an unknown "
        "customer, 1 to an unknown product; first: ord-unknown-customer (customer), ord-unknown-product (product), "
        "ord-unknown-store (store)"
    )
    figures = {name: value.value for name, value in check.metadata.items()}
    assert (
        figures["purchases_with_unknown"],
        figures["unknown_store"],
        figures["unknown_customer"],
        figures["unknown_product"],
    ) == (3, 1, 1, 1)


def test_a_total_more_than_a_cent_off_its_lines_fails_and_half_a_cent_passes(judged):
    check = judged[TOTALS]
    assert not check.passed
    assert check.description == (
        "1 of 205 purchases have a total_amount more than 0.01 off the sum of their lines: ord-total-2-cents-off (+0.02)"
    )
    assert check.metadata["totals_off"].value == 1


def test_the_references_are_not_judged_before_the_marts_they_need_are_built(tmp_path):
    with local_platform(tmp_path) as platform:
        generated = platform.run(" ".join(e.asset_name(Stage.JSON_FILES) for e in ENTITIES))
        result = platform.run(LOAD_PURCHASES)
    assert generated.success and result.success
    check = check_results(result)[REFERENCES]
    assert not check.passed
    assert check.description == "not judged: stores_mart, customers_mart, products_mart not built yet"
