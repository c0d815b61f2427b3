"""Alerts are incidents: the alert sensor, ticked on a real instance after real runs, against the Bot
API stand-in, sends one message when something starts failing (a check, a run, a MART's
freshness), none while it keeps failing, and one when it recovers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon

from probablyfresh_dagster.alerts.freshness import WINDOW_VARIABLE, mart_freshness_policy
from probablyfresh_dagster.alerts.incidents import Incidents
from probablyfresh_dagster.entities import ENTITIES, PURCHASES, Stage
from probablyfresh_dagster.resources.events import SqliteEventLogResource

from .duplicate_alerts import PURCHASES_DUPLICATE_SHARE
from .platforms import LOAD_PURCHASES, Platform, local_platform, make_platform, triple_purchase_files
from .support import local_dagster_home
from .telegram_stand_in import UI_URL, FakeTelegram, bot, bot_api_stand_in, tick

CHECK_LINK = f"{UI_URL}/assets/purchases_mart?view=checks&checkDetail=duplicate_share"
DAY = timedelta(days=1).total_seconds()
GENERATE = " ".join(sorted(entity.asset_name(Stage.JSON_FILES) for entity in ENTITIES))
"""The generator's step: its four assets, selected together."""


@pytest.fixture
def telegram_server() -> Iterator[FakeTelegram]:
    with bot_api_stand_in() as fake:
        yield fake


def judge_duplicates(platform: Platform, **expectations) -> None:
    """Purchases' duplicate_share alone, judged on what the MART holds: the checks job with one check
    selected, as `make check` or the UI's "Execute" on the check launches it."""
    job = platform.defs.resolve_job_def("checks").get_subset(
        asset_selection=set(), asset_check_selection={PURCHASES_DUPLICATE_SHARE}
    )
    run_config = {"resources": {"expectations": {"config": expectations}}} if expectations else None
    assert job.execute_in_process(instance=platform.instance, run_config=run_config, raise_on_error=False).success


def test_a_duplicate_spike_is_one_message_however_often_judged_then_one_when_resolved(tmp_path, telegram_server):
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        telegram = bot(telegram_server)
        quiet, cursor = tick(platform, telegram)
        assert quiet.skip_message == "No change (23 verdict(s) read); nothing failing."

        triple_purchase_files(platform)
        platform.run(LOAD_PURCHASES)
        opened, cursor = tick(platform, telegram, cursor)
        assert opened.skip_message == "1 alert(s) sent to Telegram; open: check purchases_mart:duplicate_share."

        still_failing = [
            lambda: judge_duplicates(platform),  # `make check`
            lambda: platform.run(PURCHASES.asset_name(Stage.MART)),  # the UI's "Materialize" of the MART
            lambda: judge_duplicates(platform),
            lambda: judge_duplicates(platform, duplicate_threshold_percent=60),  # a launchpad's config, still above
            lambda: judge_duplicates(platform),
        ]
        for evaluate in still_failing:
            evaluate()
            same, cursor = tick(platform, telegram, cursor)
            assert same.skip_message.startswith("No change"), same.skip_message
        judged = platform.instance.event_log_storage.get_asset_check_execution_history(PURCHASES_DUPLICATE_SHARE, limit=10)
        assert [record.status.value for record in judged[:6]] == ["FAILED"] * 6

        judge_duplicates(platform, duplicate_threshold_percent=70)
        resolved, cursor = tick(platform, telegram, cursor)
        assert resolved.skip_message == "1 alert(s) sent to Telegram; nothing failing."
        tick(platform, telegram, cursor)

    failing, recovered = telegram_server.texts
    assert failing == (
        "ProbablyFresh: purchases_mart duplicate_share FAILING: 66.67% of 600 RAW rows repeat a key (200 unique keys): "
        f"above the 50% threshold — {CHECK_LINK}"
    )
    assert recovered.startswith("ProbablyFresh: purchases_mart duplicate_share RESOLVED after ")
    assert recovered.endswith(f": 66.67% of 600 RAW rows repeat a key (200 unique keys): within the 70% threshold — {CHECK_LINK}")
    assert "\n" not in failing + recovered


def test_a_failed_run_is_one_message_and_resolves_once_what_it_left_undone_is_materialized(tmp_path, telegram_server):
    """Purchases loaded with the event log unopenable (a folder where its SQLite file goes): the
    MongoDB step passes, the Kafka step fails, twice; then a run of the stages behind succeeds."""
    working = make_platform(tmp_path)
    (broken_log := tmp_path / "broken-log").mkdir()
    broken = dataclasses.replace(
        make_platform(tmp_path, kafka=SqliteEventLogResource(path=str(broken_log))), instance=working.instance
    )
    telegram = bot(telegram_server)
    assert working.run(GENERATE).success
    _, cursor = tick(working, telegram)

    failures = [broken.run(LOAD_PURCHASES) for _ in range(2)]
    assert not any(result.success for result in failures)
    opened, cursor = tick(broken, telegram, cursor)
    behind = [PURCHASES.asset_name(stage) for stage in (Stage.KAFKA_TOPIC, Stage.CLICKHOUSE_RAW, Stage.MART)]
    assert opened.skip_message == f"1 alert(s) sent to Telegram; open: run pipeline [{' '.join(sorted(behind))}]."
    assert tick(broken, telegram, cursor)[0].skip_message.startswith("No change")

    assert working.run(" ".join(behind)).success
    resolved, cursor = tick(working, telegram, cursor)
    # The other message: the purchases' references, not judged without the other MARTs.
    assert resolved.skip_message.startswith("2 alert(s) sent to Telegram; open: check purchases_mart:every_purchase")

    failed, recovered = [text for text in telegram_server.texts if "pipeline run" in text]
    first = failures[0].run_id
    assert failed.startswith(
        f"ProbablyFresh: pipeline run of {', '.join(sorted(behind))} FAILED: run {first[:8]} failed at purchases_kafka_topic: "
    )
    assert failed.endswith(f" — {UI_URL}/runs/{first}") and "\n" not in failed
    assert recovered.startswith(f"ProbablyFresh: pipeline run of {', '.join(sorted(behind))} RESOLVED after ")
    assert recovered.endswith("succeeded — " + f"{UI_URL}/runs/{working.instance.get_runs(limit=1)[0].run_id}")


@pytest.fixture
def daemon_platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform on a local instance, as the daemon's (an ephemeral one cannot be shared with it)."""
    with local_platform(tmp_path) as platform, dg.DagsterInstance.from_config(str(local_dagster_home(tmp_path))) as instance:
        yield dataclasses.replace(platform, instance=instance)


@contextmanager
def freshness_daemon(instance: dg.DagsterInstance) -> Iterator[Callable[[], object]]:
    """One iteration of Dagster's own freshness daemon on `instance` at each call, over the code
    location as `make dev` loads it (the default window, a day)."""
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="probablyfresh_dagster.definitions", attribute="defs"))
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        yield lambda: list(FreshnessDaemon().run_iteration(workspace))


def test_an_overdue_mart_is_one_message_and_a_fresh_materialization_resolves_it(daemon_platform, telegram_server):
    """Dagster's clock (not the system's) set a day on, as its own tests of the daemon do."""
    platform, telegram = daemon_platform, bot(telegram_server)
    assert platform.run(f"{GENERATE} {LOAD_PURCHASES}").success
    start = time.time()
    with freshness_daemon(platform.instance) as evaluate_freshness:
        evaluate_freshness()
        _, cursor = tick(platform, telegram)
        # The only other incident: the purchases' references, not judged without the other MARTs.
        other = "check purchases_mart:every_purchase_refers_to_known_entities"
        assert Incidents.from_cursor(cursor).open.keys() == {other}
        telegram_server.requests.clear()

        with freeze_time(start + DAY + 60):
            evaluate_freshness()
        overdue, cursor = tick(platform, telegram, cursor)
        assert overdue.skip_message == f"1 alert(s) sent to Telegram; open: {other}, freshness purchases_mart."
        with freeze_time(start + DAY + 120):
            evaluate_freshness()
        assert tick(platform, telegram, cursor)[0].skip_message.startswith("No change")

        with freeze_time(start + DAY + 180):
            assert platform.run(PURCHASES.asset_name(Stage.MART)).success
            evaluate_freshness()
        resolved, cursor = tick(platform, telegram, cursor)
        assert resolved.skip_message == f"1 alert(s) sent to Telegram; open: {other}."

    late, again = telegram_server.texts
    link = f"{UI_URL}/assets/purchases_mart"
    assert late.startswith("ProbablyFresh: purchases_mart freshness OVERDUE: last materialized ")
    assert late.endswith(f"; expected at least every 24 h — {link}")
    assert again.startswith("ProbablyFresh: purchases_mart freshness RESOLVED after ") and again.endswith(link)


def test_every_mart_has_a_freshness_policy_of_the_configured_window(tmp_path, monkeypatch):
    monkeypatch.setenv(WINDOW_VARIABLE, "90")
    graph = make_platform(tmp_path).defs.resolve_asset_graph()
    policies = {key: graph.get(key).freshness_policy for key in graph.get_all_asset_keys()}
    marts = {entity.asset_key(Stage.MART) for entity in ENTITIES}
    assert {key for key, policy in policies.items() if policy} == marts
    for key in marts:
        policy = policies[key]
        assert isinstance(policy, TimeWindowFreshnessPolicy)
        assert policy.fail_window.to_timedelta() == timedelta(minutes=90)
    monkeypatch.setenv(WINDOW_VARIABLE, "0")
    with pytest.raises(ValueError, match=f"^{WINDOW_VARIABLE} must be a whole number of minutes, at least 1, got '0'$"):
        mart_freshness_policy()


def test_a_check_planned_by_a_run_still_going_holds_its_reading_until_judged(tmp_path, telegram_server):
    """A run plans purchases' duplicate_share (its execution record comes first), a later evaluation
    passes, then the run judges it failed: both are read, in order, once the run's is judged."""
    platform, telegram = make_platform(tmp_path), bot(telegram_server)
    _, cursor = tick(platform, telegram)
    check = PURCHASES_DUPLICATE_SHARE
    run = platform.instance.add_run(dg.DagsterRun(job_name="checks", status=dg.DagsterRunStatus.STARTED))

    def report(kind: dg.DagsterEventType, data: AssetCheckEvaluationPlanned | dg.AssetCheckEvaluation) -> None:
        platform.instance.report_dagster_event(dg.DagsterEvent(kind.value, "checks", event_specific_data=data), run.run_id)

    report(
        dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
        AssetCheckEvaluationPlanned(asset_key=check.asset_key, check_name=check.name),
    )
    platform.instance.report_runless_asset_event(dg.AssetCheckEvaluation(check.asset_key, check.name, passed=True))
    held, cursor = tick(platform, telegram, cursor)
    assert held.skip_message.startswith("No change (0 verdict(s) read)")

    report(dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.AssetCheckEvaluation(check.asset_key, check.name, passed=False))
    judged, cursor = tick(platform, telegram, cursor)
    assert judged.skip_message == "2 alert(s) sent to Telegram; nothing failing."
    assert [text.split(":")[1] for text in telegram_server.texts] == [
        " purchases_mart duplicate_share FAILING",
        " purchases_mart duplicate_share RESOLVED after 0 s",
    ]
