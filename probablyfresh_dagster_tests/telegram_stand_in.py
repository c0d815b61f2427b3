"""A Bot API stand-in: a real HTTP server on 127.0.0.1 that records what is posted to it, and a
tick of the alert sensor against it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg

from probablyfresh_dagster.alerts.sensor import alert_sensor
from probablyfresh_dagster.resources.telegram import TelegramResource

from .platforms import Platform

TOKEN = "123456:test-token"
CHAT_ID = "-100200300"
UI_URL = "http://dagster.example:3000"


@dataclass
class FakeTelegram:
    url: str
    status: int = 200
    requests: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [body["text"] for _, body in self.requests]


@contextmanager
def bot_api_stand_in() -> Iterator[FakeTelegram]:
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
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def bot(server: FakeTelegram, token: str | None = TOKEN) -> TelegramResource:
    return TelegramResource(bot_token=token, chat_id=CHAT_ID, api_base_url=server.url, dagster_ui_url=UI_URL)


def tick(platform: Platform, telegram: TelegramResource, cursor: str | None = None) -> tuple[dg.SkipReason, str | None]:
    """One evaluation of the alert sensor on the platform's instance and code location."""
    context = dg.build_sensor_context(
        instance=platform.instance, cursor=cursor, resources={"telegram": telegram}, definitions=platform.defs
    )
    result = alert_sensor(context)
    assert isinstance(result, dg.SkipReason)
    return result, context.cursor
