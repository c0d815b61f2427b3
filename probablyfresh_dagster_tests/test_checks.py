"""The checks on their own (`make check`'s job): expectations as config, and results that explain themselves."""

import json

import pytest

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.resources.expectations import EXPECTATIONS_ENV, expectations_from_env

from .platforms import check_results


def test_the_checks_job_judges_what_the_assets_hold_and_materializes_nothing(loaded):
    result = loaded.check()
    assert result.success and result.get_asset_materialization_events() == []
    checks = check_results(result)
    assert set(checks) == {key.to_user_string() for key in loaded.defs.resolve_asset_graph().asset_check_keys}
    assert all(check.passed for check in checks.values())
    stores = checks["stores_mart:stores_count"].description
    assert stores == "45 stores: almost 30, maybe 15 — expected almost 30, maybe 15"


def test_expectations_set_in_the_launchpad_decide_and_the_description_says_why(loaded):
    networks = {"Большая Пикча": 30, "Маленькая Пикча": 15}
    result = loaded.check(store_networks=networks, min_purchases=300)
    failed = {key: check for key, check in check_results(result).items() if not check.passed}
    assert set(failed) == {"stores_mart:stores_count", "purchases_mart:purchases_minimum"}
    assert failed["stores_mart:stores_count"].description == (
        "45 stores: almost 30, maybe 15 — expected большая пикча 30, маленькая пикча 15"
    )
    assert failed["purchases_mart:purchases_minimum"].description == "200 purchases — expected at least 300"


def test_check_figures_are_plain_values_the_ui_shows_without_a_click(loaded):
    for key, check in check_results(loaded.check()).items():
        shown = {name: type(value).__name__ for name, value in check.metadata.items()}
        assert not [name for name, kind in shown.items() if kind == "JsonMetadataValue"], key
        assert check.description, key


def test_expectations_come_from_the_environment_as_one_json_object(monkeypatch, loaded):
    monkeypatch.setenv(EXPECTATIONS_ENV, json.dumps({"store_networks": {"Almost": 29, "Maybe": 16}}))
    defs = build_definitions(loaded.settings)
    result = defs.resolve_job_def("checks").execute_in_process(instance=loaded.instance, raise_on_error=False)
    stores = check_results(result)["stores_mart:stores_count"]
    assert not stores.passed and stores.description.endswith("expected almost 29, maybe 16")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [("{not json", "must be a JSON object"), ("[1]", "must be a JSON object"), ('{"min_purchase": 1}', "min_purchase")],
)
def test_a_malformed_expectations_variable_is_refused_naming_it(monkeypatch, value, complaint):
    monkeypatch.setenv(EXPECTATIONS_ENV, value)
    with pytest.raises(ValueError, match=complaint):
        expectations_from_env()
