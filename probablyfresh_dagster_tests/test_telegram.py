"""The alert sensor's way to Telegram, against a real HTTP server on 127.0.0.1 standing in for the Bot API:
what is sent, what a refused or unreachable send keeps, and settings that cannot work."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from probablyfresh_dagster.alerts import checks
from probablyfresh_dagster.alerts.checks import check_verdicts
from probablyfresh_dagster.alerts.incidents import Incidents
from probablyfresh_dagster.profiles import telegram_from_env
from probablyfresh_dagster.resources.telegram import TelegramResource, TelegramSettingsError

from .duplicate_alerts import PURCHASES_DUPLICATE_SHARE, report_failed_duplicate_check
from .platforms import LOAD_PURCHASES, Platform, check_results, local_platform, make_platform, triple_purchase_files
from .secrets_search import leaks, texts
from .telegram_stand_in import CHAT_ID, TOKEN, UI_URL, FakeTelegram, bot, bot_api_stand_in, tick

ODD_TOKENS = {
    "space": "123456:Pf7Quebec Pf7Romeo",
    "line-break": "123456:Pf7Quebec-Pf7Romeo\n",
    "control": "123456:Pf7Quebec\x1bPf7Romeo",
    "non-ASCII": "123456:Pf7Qu\u00e9bec-Pf7Romeo",
    "tab": "123456:Pf7Quebec\tPf7Romeo",
}
"""Tokens no URL can carry as they are: `http.client` refused the first three quoting the URL."""
BROKEN_BASE_URLS = {
    "no-scheme": "pf7sierra.example",
    "not-http": "ftp://pf7sierra.example",
    "no-host": "https://",
    "port": "https://pf7sierra.example:tls",
    "space": "https://pf7sierra .example",
    "query": "https://pf7sierra.example/?via=proxy",
    "ipv6": "http://[pf7sierra",
}


@pytest.fixture
def telegram_server() -> Iterator[FakeTelegram]:
    with bot_api_stand_in() as fake:
        yield fake


@pytest.fixture(scope="module")
def failed_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """Every check passed once, then purchases tripled: one failed purchases duplicate_share."""
    with local_platform(tmp_path_factory.mktemp("telegram")) as platform:
        assert platform.run().success
        triple_purchase_files(platform)
        platform.run(LOAD_PURCHASES)
    return platform


@pytest.fixture
def alerting(tmp_path) -> Platform:
    """A platform whose instance holds one failed duplicate check, so the sensor has an alert to send."""
    platform = make_platform(tmp_path)
    report_failed_duplicate_check(platform.instance)
    return platform


def test_a_failed_duplicate_check_is_sent_once_with_its_figures_and_a_link(failed_platform, telegram_server):
    result, cursor = tick(failed_platform, bot(telegram_server))
    assert "1 alert(s) sent" in result.skip_message
    ((path, body),) = telegram_server.requests
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body["chat_id"] == CHAT_ID
    assert body["text"] == (
        "ProbablyFresh: purchases_mart duplicate_share FAILING: 66.67% of 600 RAW rows repeat a key (200 unique keys): "
        f"above the 50% threshold — {UI_URL}/assets/purchases_mart?view=checks&checkDetail=duplicate_share"
    )

    again, _ = tick(failed_platform, bot(telegram_server), cursor)
    assert again.skip_message.startswith("No change")
    assert len(telegram_server.requests) == 1


def test_a_send_failure_keeps_the_alert_for_the_next_tick(failed_platform, telegram_server):
    telegram_server.status = 500
    failed, cursor = tick(failed_platform, bot(telegram_server))
    assert "HTTP 500" in failed.skip_message and "0 message(s) sent" in failed.skip_message
    assert TOKEN not in failed.skip_message

    telegram_server.status = 200
    recovered, cursor = tick(failed_platform, bot(telegram_server), cursor)
    assert "1 alert(s) sent" in recovered.skip_message
    refused, delivered = telegram_server.requests
    assert refused == delivered
    later, _ = tick(failed_platform, bot(telegram_server), cursor)
    assert later.skip_message.startswith("No change") and len(telegram_server.requests) == 2


def test_an_unreachable_telegram_is_logged_not_raised(failed_platform):
    unreachable = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url="http://127.0.0.1:9")
    result, cursor = tick(failed_platform, unreachable)
    assert "Telegram at 127.0.0.1:9 is unreachable: ConnectionRefusedError" in result.skip_message
    assert TOKEN not in result.skip_message and Incidents.from_cursor(cursor).open == {}


@pytest.mark.parametrize("token", ODD_TOKENS.values(), ids=ODD_TOKENS.keys())
def test_a_token_no_url_can_carry_fails_the_tick_naming_the_variable_never_the_token(alerting, telegram_server, token):
    with pytest.raises(TelegramSettingsError, match="^TELEGRAM_BOT_TOKEN is not a bot token") as caught:
        tick(alerting, bot(telegram_server, token))
    assert leaks(caught.value, token) == []
    assert telegram_server.requests == []


@pytest.mark.parametrize("base_url", BROKEN_BASE_URLS.values(), ids=BROKEN_BASE_URLS.keys())
def test_a_broken_base_url_fails_the_tick_naming_the_variable_never_its_value(alerting, base_url):
    telegram = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url=base_url)
    with pytest.raises(TelegramSettingsError, match="^TELEGRAM_API_BASE_URL is not an http") as caught:
        tick(alerting, telegram)
    assert leaks(caught.value, TOKEN) == []
    assert not [text for text in texts(caught.value) if "pf7sierra" in text]


def test_a_base_url_with_a_path_as_a_proxy_has_is_accepted(alerting, telegram_server):
    proxied = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url=f"{telegram_server.url}/telegram/")
    result, _ = tick(alerting, proxied)
    assert "1 alert(s) sent" in result.skip_message
    ((path, _),) = telegram_server.requests
    assert path == f"/telegram/bot{TOKEN}/sendMessage"


def test_without_a_token_nothing_is_sent_and_the_cursor_moves_on(failed_platform, telegram_server):
    result, cursor = tick(failed_platform, bot(telegram_server, token=None))
    assert "1 alert(s) not sent: no Telegram bot configured" in result.skip_message
    assert telegram_server.requests == []
    later, _ = tick(failed_platform, bot(telegram_server), cursor)
    assert later.skip_message.startswith("No change")
    assert telegram_server.requests == []


def test_the_token_the_base_url_and_the_ui_url_are_wired_from_the_environment_only_when_set(monkeypatch):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "DAGSTER_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    assert not telegram_from_env().configured
    assert telegram_from_env().api_base_url == "https://api.telegram.org"
    assert telegram_from_env().dagster_ui_url == "http://127.0.0.1:3000"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", CHAT_ID)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DAGSTER_UI_URL", UI_URL)
    resource = telegram_from_env()
    assert isinstance(resource.bot_token, dg.EnvVar) and resource.chat_id == CHAT_ID
    assert isinstance(resource.api_base_url, dg.EnvVar)
    assert resource.dagster_ui_url == UI_URL


def test_every_evaluation_since_the_cursor_is_read_however_many_pages_it_takes(failed_platform, monkeypatch):
    monkeypatch.setattr(checks, "HISTORY_PAGE", 1)
    source = f"check {PURCHASES_DUPLICATE_SHARE.to_user_string()}"
    passed, failed = check_verdicts(failed_platform.instance, [PURCHASES_DUPLICATE_SHARE], {source: 0}, UI_URL)
    assert (passed.failing, failed.failing) == (False, True)
    assert passed.position and failed.position and passed.position[1] < failed.position[1]
    assert check_verdicts(failed_platform.instance, [PURCHASES_DUPLICATE_SHARE], {source: passed.position[1]}, UI_URL) == [failed]


def test_the_readme_duplicate_spike_copies_survive_a_whole_run_and_alert(tmp_path, telegram_server):
    """README, "How an alert reaches Telegram": copy the purchase files twice, run everything."""
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        triple_purchase_files(platform)
        copies = sorted((platform.settings.data_dir / "purchases").glob("*-copy?.json"))
        result = platform.run()  # the generator included
        assert result.success
        assert sorted((platform.settings.data_dir / "purchases").glob("*-copy?.json")) == copies
        assert len(copies) == 400
        share = check_results(result)["purchases_mart:duplicate_share"]
        assert not share.passed and share.metadata["duplicate_percentage"].value == 66.67
        sent, _ = tick(platform, bot(telegram_server))
    assert "1 alert(s) sent" in sent.skip_message
    assert telegram_server.texts[0].startswith("ProbablyFresh: purchases_mart duplicate_share FAILING: 66.67% of 600 RAW rows")
