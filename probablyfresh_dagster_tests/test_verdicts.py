"""Visible verdicts: a run whose checks failed is tagged with exactly those checks."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from probablyfresh_dagster.verdicts import FAILED_CHECKS_TAG, tag_failed_checks

from .platforms import Platform


def test_a_run_with_failed_checks_is_tagged_with_exactly_those(loaded: Platform) -> None:
    """Checks judged in a MART step (stores_count, purchases_minimum) and in a check step of their
    own (every_store_has_a_customer), failed by expectations the shared state does not meet."""
    result = loaded.check(store_networks={"Almost": 31, "Maybe": 15}, min_purchases=10_000, customers_per_store=1_000)

    failed = sorted(c.asset_check_key.to_user_string() for c in result.get_asset_check_evaluations() if not c.passed)
    assert failed == [
        "customers_mart:every_store_has_a_customer",
        "purchases_mart:purchases_minimum",
        "stores_mart:stores_count",
    ]
    run = loaded.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags[FAILED_CHECKS_TAG] == ",".join(failed)


def test_a_run_whose_checks_all_passed_has_no_tag(loaded_run: tuple[Platform, dg.ExecuteInProcessResult]) -> None:
    platform, result = loaded_run
    assert result.get_asset_check_evaluations() and all(c.passed for c in result.get_asset_check_evaluations())
    run = platform.instance.get_run_by_id(result.run_id)
    assert run is not None and FAILED_CHECKS_TAG not in run.tags


TAGGERS, CHECKS_EACH = 4, 4


def test_steps_tagging_one_run_at_once_lose_none_of_each_others_checks(tmp_path) -> None:
    """Dagster's `add_run_tags` rewrites the run's whole record: without the lock, steps tagging
    at once overwrite each other's checks (threads here: the lock is a file's, as between processes)."""
    (tmp_path / "dagster.yaml").write_text("")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        run_id = instance.add_run(dg.DagsterRun(job_name="checks")).run_id

        def tag_checks(tagger: int) -> None:
            for check in range(CHECKS_EACH):
                tag_failed_checks(instance, run_id, [f"asset_{tagger}:check_{check:02}"])

        with ThreadPoolExecutor(TAGGERS) as taggers:
            list(taggers.map(tag_checks, range(TAGGERS)))
        run = instance.get_run_by_id(run_id)
    assert run is not None
    expected = sorted(f"asset_{t}:check_{c:02}" for t in range(TAGGERS) for c in range(CHECKS_EACH))
    assert run.tags[FAILED_CHECKS_TAG].split(",") == expected
