"""`make run`'s entry point: the summary it prints and its exit code."""

import re

import pytest

from probablyfresh_dagster import run
from probablyfresh_dagster.definitions import defs

from .support import use_local_state

CHECKS = len(defs.resolve_asset_graph().asset_check_keys)


@pytest.mark.slow
def test_run_exits_1_on_a_failed_check_and_0_once_every_check_passes(tmp_path, monkeypatch, capsys):
    use_local_state(tmp_path, monkeypatch)

    assert run.main(["--purchases", "150"]) == 1
    failed, logged = capsys.readouterr()
    # Once per run, not once per entity's Kafka step.
    assert logged.count("FERNET_KEY is not set") == logged.count("FERNET_KEY is not set: created the local") == 1
    assert "purchases_mart:purchases_minimum" in failed
    assert "FAILED (ERROR)" in failed and "150 purchases — expected at least 200" in failed

    assert run.main([]) == 0
    passed, logged = capsys.readouterr()
    assert logged.count("FERNET_KEY is not set") == logged.count("FERNET_KEY is not set: using the local") == 1
    assert "purchases_mart              200 rows" in passed
    assert re.search(r"purchase_items_mart +[1-9]\d* rows", passed)  # the purchases MART's second table
    assert "`make dev` shows this run" in passed
    assert "FAILED" not in passed and passed.count(" passed\n") == CHECKS
    assert "45 stores: almost 30, maybe 15 — expected almost 30, maybe 15" in passed

    assert run.main(["--checks"]) == 0  # `make check`: the same checks and summary, nothing materialized
    checked = capsys.readouterr().out
    assert "rows" not in checked.split("check ")[0]
    assert checked.count(" passed\n") == CHECKS and "200 purchases — expected at least 200" in checked
