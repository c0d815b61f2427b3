"""A failed duplicate check becomes one Telegram message, sent by a sensor.

Grafana alerts on the same figure from ClickHouse; this is the Dagster side, so a failure is
reported even when Grafana is down, with the run that produced it.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, Stage, entity_of
from probablyfresh_dagster.scrub import secrets_kept_out, url_password

DUPLICATE_CHECKS = [dg.AssetCheckKey(e.asset_key(Stage.MART), "duplicate_share") for e in ENTITIES]
HISTORY_PER_TICK = 100
"""Executions read per page of a check's history."""


TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"
BASE_URL_VARIABLE = "TELEGRAM_API_BASE_URL"
BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
"""A token as @BotFather gives it (`123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11`): nothing in it
needs escaping in a URL path."""


class TelegramError(Exception):
    """A message that did not reach Telegram; the text never holds the bot token."""


class TelegramSettingsError(ValueError):
    """A Telegram setting that cannot work; the text names the variable, never its value."""


class TelegramResource(dg.ConfigurableResource):
    """The Telegram Bot API. `bot_token` is wired as `EnvVar("TELEGRAM_BOT_TOKEN")` and
    `api_base_url` as `EnvVar("TELEGRAM_API_BASE_URL")`, each only when the variable is set, so
    Dagster shows their names, never their values; without a token nothing is sent."""

    bot_token: str | None = None
    chat_id: str | None = None
    api_base_url: str = "https://api.telegram.org"
    timeout_seconds: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.bot_token and self.chat_id)

    def check_settings(self) -> None:
        """Refuse a token or base URL that cannot make a request URL, before one is built: the
        URL holds the token, and the errors of `urllib` and `http.client` quote it."""
        if self.bot_token and not BOT_TOKEN.fullmatch(self.bot_token):
            raise TelegramSettingsError(
                f"{TOKEN_VARIABLE} is not a bot token (digits, ':', then letters, digits, '_' or '-' as "
                "@BotFather gives it; no space, line break, control or non-ASCII character); its value is not shown"
            )
        if not _is_http_url(self.api_base_url):
            raise TelegramSettingsError(
                f"{BASE_URL_VARIABLE} is not an http(s) URL such as https://api.telegram.org "
                "(printable ASCII, a host, no query or fragment); its value is not shown"
            )

    def send(self, text: str) -> None:
        self.check_settings()
        with secrets_kept_out(self.bot_token, url_password(self.api_base_url)):
            self._post(text)

    def _post(self, text: str) -> None:
        request = urllib.request.Request(
            f"{self.api_base_url.rstrip('/')}/bot{self.bot_token}/sendMessage",
            data=json.dumps({"chat_id": self.chat_id, "text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as error:
            # `from None`: the chained error and its `url` carry the token.
            raise TelegramError(f"Telegram answered HTTP {error.code}") from None
        except (OSError, ValueError, http.client.HTTPException) as error:
            # Only the exception's type: a URLError's reason or an InvalidURL may quote the URL.
            reason = getattr(error, "reason", error)
            kind = type(reason).__name__ if isinstance(reason, BaseException) else type(error).__name__
            where = urllib.parse.urlsplit(self.api_base_url).netloc.rpartition("@")[2]  # no user:password@
            raise TelegramError(f"Telegram at {where} is unreachable: {kind}") from None


def _is_http_url(url: str) -> bool:
    """An `http(s)://host[:port][/path]` URL of printable ASCII, with no query or fragment."""
    if not re.fullmatch(r"[\x21-\x7e]+", url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (read for its ValueError: raises on a port that is not a number from 0 to 65535)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query and not parts.fragment


@dataclass(frozen=True)
class DuplicateFailure:
    execution_id: int
    entity: str
    run_id: str
    duplicate_percentage: float
    threshold_percent: float

    def message(self) -> str:
        return (
            f"ProbablyFresh: duplicate share of {self.entity} is {self.duplicate_percentage}% "
            f"(threshold {self.threshold_percent}%), run {self.run_id}"
        )


def failed_duplicate_checks(instance: dg.DagsterInstance, after_id: int) -> list[DuplicateFailure]:
    """Failed `duplicate_share` evaluations with an execution id above `after_id`, oldest first.

    Read from the asset check execution history, whose ids are global and increasing on every
    storage; `get_event_records` on the default run-sharded SQLite storage refuses an integer
    cursor for check evaluations.
    """
    failures = []
    for key in DUPLICATE_CHECKS:
        for record in _executions_after(instance, key, after_id):
            evaluation = record.event.asset_check_evaluation if record.event else None
            if evaluation is None or evaluation.passed:
                continue
            figures = {name: value.value for name, value in evaluation.metadata.items()}
            failures.append(
                DuplicateFailure(
                    execution_id=record.id,
                    entity=entity_of(key.asset_key).name,
                    run_id=record.run_id,
                    duplicate_percentage=figures.get("duplicate_percentage"),
                    threshold_percent=float(figures["threshold_percent"]),
                )
            )
    return sorted(failures, key=lambda failure: failure.execution_id)


def _executions_after(instance: dg.DagsterInstance, key: dg.AssetCheckKey, after_id: int) -> Iterator[Any]:
    """The check's execution records with an id above `after_id`, newest first, a page at a time
    (the history's cursor returns the executions below an id). Filtered on their evaluation, not
    on the history's status filter, whose enum Dagster does not export."""
    below = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(key, limit=HISTORY_PER_TICK, cursor=below)
        for record in page:
            if record.id <= after_id:
                return
            yield record
        if len(page) < HISTORY_PER_TICK:
            return
        below = page[-1].id


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed duplicate_share check: one Telegram message per failed evaluation.",
)
def duplicate_alert_sensor(context: dg.SensorEvaluationContext, telegram: TelegramResource):
    """The cursor is the last execution id handled. It passes a message only once Telegram took
    it, so a send failure is retried on the next tick. With no token configured nothing is sent
    and the cursor still advances: there is nowhere to deliver, so nothing to queue up. A token or
    base URL that cannot work fails every tick, naming the variable; the alerts wait for the fix."""
    if telegram.configured:
        telegram.check_settings()  # a setting that cannot work fails every tick, naming the variable
    failures = failed_duplicate_checks(context.instance, int(context.cursor or 0))
    if not failures:
        return dg.SkipReason("No failed duplicate check since the last tick.")
    if not telegram.configured:
        context.update_cursor(str(failures[-1].execution_id))
        return dg.SkipReason(f"{len(failures)} failed duplicate check(s); no Telegram bot configured.")
    for sent, failure in enumerate(failures):
        try:
            telegram.send(failure.message())
        except TelegramError as error:
            context.log.error(f"{error}; {len(failures) - sent} alert(s) kept for the next tick")
            return dg.SkipReason(f"{error}; {len(failures) - sent} alert(s) kept for the next tick.")
        context.update_cursor(str(failure.execution_id))
    return dg.SkipReason(f"Sent {len(failures)} duplicate alert(s) to Telegram.")
