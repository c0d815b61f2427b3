"""The Telegram Bot API, which the alert sensor sends its messages through."""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import dagster as dg

from probablyfresh_dagster.scrub import secrets_kept_out, url_password

TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"
BASE_URL_VARIABLE = "TELEGRAM_API_BASE_URL"
UI_URL_VARIABLE = "DAGSTER_UI_URL"
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
    Dagster shows their names, never their values; without a token nothing is sent.
    `dagster_ui_url` is where the links of the messages point (`DAGSTER_UI_URL`): the Dagster UI as
    the chat's readers open it."""

    bot_token: str | None = None
    chat_id: str | None = None
    api_base_url: str = "https://api.telegram.org"
    timeout_seconds: float = 10.0
    dagster_ui_url: str = "http://127.0.0.1:3000"

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
