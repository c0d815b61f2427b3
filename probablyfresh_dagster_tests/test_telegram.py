"""The duplicate alert sensor against a real HTTP server on 127.0.0.1 standing in for Telegram."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from probablyfresh_dagster import alerts
from probablyfresh_dagster.alerts import duplicate_alert_sensor, failed_duplicate_checks
from probablyfresh_dagster.profiles import telegram_from_env
from probablyfresh_dagster.resources.telegram import TelegramResource, TelegramSettingsError

from .duplicate_alerts import report_failed_duplicate_check
from .platforms import LOAD_PURCHASES, Platform, check_results, local_platform, triple_purchase_files
from .secrets_search import leaks, texts

TOKEN = "123456:test-token"
CHAT_ID = "-100200300"
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


@dataclass
class FakeTelegram:
    url: str
    status: int = 200
    requests: list[tuple[str, dict]] = field(default_factory=list)


@pytest.fixture
def telegram_server() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append((self.path, body))
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"ok": fake.status == 200}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def failed_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """Every check passed once, then purchases tripled: one failed purchases duplicate_share."""
    with local_platform(tmp_path_factory.mktemp("telegram")) as platform:
        assert platform.run().success
        triple_purchase_files(platform)
        platform.run(LOAD_PURCHASES)
    return platform


@pytest.fixture
def alerting_instance() -> Iterator[dg.DagsterInstance]:
    """An instance holding one failed duplicate check, so the sensor has an alert to send."""
    with dg.DagsterInstance.ephemeral() as instance:
        report_failed_duplicate_check(instance)
        yield instance


def tick(platform: Platform, telegram: TelegramResource, cursor: str | None = None):
    context = dg.build_sensor_context(instance=platform.instance, cursor=cursor, resources={"telegram": telegram})
    return duplicate_alert_sensor(context), context.cursor


def bot(server: FakeTelegram, token: str | None = TOKEN) -> TelegramResource:
    return TelegramResource(bot_token=token, chat_id=CHAT_ID, api_base_url=server.url)


def test_a_failed_duplicate_check_is_sent_once(failed_platform, telegram_server):
    result, cursor = tick(failed_platform, bot(telegram_server))
    assert isinstance(result, dg.SkipReason) and "Sent 1" in result.skip_message
    ((path, body),) = telegram_server.requests
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body["chat_id"] == CHAT_ID
    assert body["text"].startswith("ProbablyFresh: duplicate share of purchases is 66.67% (threshold 50.0%), run ")
    latest_run = failed_platform.instance.get_runs(limit=1)[0]
    assert body["text"].endswith(f"run {latest_run.run_id}")

    again, _ = tick(failed_platform, bot(telegram_server), cursor)
    assert isinstance(again, dg.SkipReason)
    assert len(telegram_server.requests) == 1


def test_a_send_failure_keeps_the_alert_for_the_next_tick(failed_platform, telegram_server):
    telegram_server.status = 500
    failed, cursor = tick(failed_platform, bot(telegram_server))
    assert isinstance(failed, dg.SkipReason) and "HTTP 500" in failed.skip_message
    assert TOKEN not in failed.skip_message
    assert cursor is None

    telegram_server.status = 200
    recovered, cursor = tick(failed_platform, bot(telegram_server), cursor)
    assert "Sent 1" in recovered.skip_message
    refused, delivered = telegram_server.requests
    assert refused == delivered


def test_an_unreachable_telegram_is_logged_not_raised(failed_platform, telegram_server):
    unreachable = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url="http://127.0.0.1:9")
    result, cursor = tick(failed_platform, unreachable)
    assert isinstance(result, dg.SkipReason)
    assert "Telegram at 127.0.0.1:9 is unreachable: ConnectionRefusedError" in result.skip_message
    assert TOKEN not in result.skip_message and cursor is None


@pytest.mark.parametrize("token", ODD_TOKENS.values(), ids=ODD_TOKENS.keys())
def test_a_token_no_url_can_carry_fails_the_tick_naming_the_variable_never_the_token(alerting_instance, telegram_server, token):
    context = dg.build_sensor_context(instance=alerting_instance, resources={"telegram": bot(telegram_server, token)})
    with pytest.raises(TelegramSettingsError, match="^TELEGRAM_BOT_TOKEN is not a bot token") as caught:
        duplicate_alert_sensor(context)
    assert leaks(caught.value, token) == []
    assert telegram_server.requests == [] and context.cursor is None


@pytest.mark.parametrize("base_url", BROKEN_BASE_URLS.values(), ids=BROKEN_BASE_URLS.keys())
def test_a_broken_base_url_fails_the_tick_naming_the_variable_never_its_value(alerting_instance, base_url):
    telegram = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url=base_url)
    context = dg.build_sensor_context(instance=alerting_instance, resources={"telegram": telegram})
    with pytest.raises(TelegramSettingsError, match="^TELEGRAM_API_BASE_URL is not an http") as caught:
        duplicate_alert_sensor(context)
    assert leaks(caught.value, TOKEN) == []
    assert not [text for text in texts(caught.value) if "pf7sierra" in text]
    assert context.cursor is None


def test_a_base_url_with_a_path_as_a_proxy_has_is_accepted(alerting_instance, telegram_server):
    proxied = TelegramResource(bot_token=TOKEN, chat_id=CHAT_ID, api_base_url=f"{telegram_server.url}/telegram/")
    context = dg.build_sensor_context(instance=alerting_instance, resources={"telegram": proxied})
    assert "Sent 1" in duplicate_alert_sensor(context).skip_message
    ((path, _),) = telegram_server.requests
    assert path == f"/telegram/bot{TOKEN}/sendMessage"


def test_without_a_token_nothing_is_sent_and_the_cursor_moves_on(failed_platform, telegram_server):
    result, cursor = tick(failed_platform, bot(telegram_server, token=None))
    assert isinstance(result, dg.SkipReason) and "no Telegram bot configured" in result.skip_message
    assert cursor is not None
    assert telegram_server.requests == []
    later, _ = tick(failed_platform, bot(telegram_server), cursor)
    assert isinstance(later, dg.SkipReason) and "No failed" in later.skip_message
    assert telegram_server.requests == []


def test_passing_checks_send_nothing(platform, telegram_server):
    assert platform.run().success
    result, cursor = tick(platform, bot(telegram_server))
    assert isinstance(result, dg.SkipReason) and "No failed" in result.skip_message
    assert telegram_server.requests == [] and cursor is None


def test_the_token_and_the_base_url_are_wired_from_the_environment_only_when_set(monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_BASE_URL", raising=False)
    assert not telegram_from_env().configured
    assert telegram_from_env().api_base_url == "https://api.telegram.org"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", CHAT_ID)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9")
    resource = telegram_from_env()
    assert isinstance(resource.bot_token, dg.EnvVar) and resource.chat_id == CHAT_ID
    assert isinstance(resource.api_base_url, dg.EnvVar)


def test_every_failure_since_the_cursor_is_found_however_many_pages_it_takes(tmp_path, monkeypatch):
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        triple_purchase_files(platform)
        for _ in range(2):
            platform.run(LOAD_PURCHASES)
        monkeypatch.setattr(alerts, "HISTORY_PER_TICK", 1)
        failures = failed_duplicate_checks(platform.instance, 0)
        assert [failure.entity for failure in failures] == ["purchases", "purchases"]
        assert failed_duplicate_checks(platform.instance, failures[0].execution_id) == failures[1:]


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
    assert "Sent 1" in sent.skip_message
    ((_, body),) = telegram_server.requests
    assert body["text"].startswith("ProbablyFresh: duplicate share of purchases is 66.67% (threshold 50.0%)")
