"""No secret lands on disk or in output: the real `dagster-daemon` ticks `alert_sensor`
with malformed Telegram settings and an alert to send, and a run fails on a MongoDB whose URL
holds a password; then every file under DAGSTER_HOME (SQLite databases read as bytes), the state
and data folders and the output are searched for the secret and each distinctive run of it.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import dagster as dg
import pytest

from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.telegram import BASE_URL_VARIABLE, TOKEN_VARIABLE
from probablyfresh_dagster.settings import PROJECT_ROOT

from .duplicate_alerts import report_failed_duplicate_check
from .platforms import make_platform
from .processes import descendant_sessions, kill, session_processes
from .secrets_search import IN_URL, PASSWORD, needles
from .support import free_port, local_dagster_home, local_env, wait_for

ODD_TOKEN = "700100:PfAlpha7 PfBravo7\nPfCharlie7\x07PfDelta7\u00e9PfEcho7\tPfFoxtrot7"
"""A space, a line break, a control character (BEL), a non-ASCII letter and a tab."""
pytestmark = pytest.mark.slow

WELL_FORMED_TOKEN = "700200:PfGolf7-PfHotel7_PfIndia7"
SCHEMELESS_BASE_URL = "api.telegram.org"
"""The base URL without `https://`: `urllib` refused it quoting the whole URL, token included."""
TICKS = 2
"""A tick and its repeat: a tick refusing the settings leaves the cursor as it was, so every tick
after the first does what the second does (each one costs the sensor's 30 s interval)."""
TICKS_TIMEOUT_SECONDS = 240
"""Start-up and two ticks of a sensor evaluated at most every 30 s, on a busy 2-core machine."""


@dataclass
class Daemon:
    root: Path
    token: str
    variable: str
    """The variable the tick errors must name."""

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def output(self) -> Path:
        return self.root / "daemon-output.log"

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def test_the_daemon_keeps_malformed_telegram_settings_out_of_every_file_and_its_output(tmp_path):
    cases = [
        Daemon(tmp_path / "odd-token", ODD_TOKEN, TOKEN_VARIABLE),
        Daemon(tmp_path / "schemeless-url", WELL_FORMED_TOKEN, BASE_URL_VARIABLE),
    ]
    with ExitStack() as stack:
        stack.enter_context(_running(cases[0], base_url="http://127.0.0.1:9"))
        stack.enter_context(_running(cases[1], base_url=SCHEMELESS_BASE_URL))
        for case in cases:
            wait_for(
                lambda case=case: len(_finished_ticks(case)) >= TICKS, TICKS_TIMEOUT_SECONDS, f"{TICKS} ticks in {case.root.name}"
            )

    for case in cases:
        ticks = _finished_ticks(case)
        assert {tick.status.value for tick in ticks} == {"FAILURE"}
        for tick in ticks:
            assert case.variable in _chain_text(tick.error), _chain_text(tick.error)
        output = case.output.read_text(errors="replace")
        assert output.count(case.variable) >= TICKS, output

        files = _files(case.root)
        assert {"runs.db", "schedules.db", case.output.name} <= {path.name for path in files}
        hits = _hits(case.root, [needle.encode() for needle in needles(case.token)])
        print(f"{case.root.name}: {len(ticks)} ticks, {len(files)} files searched, {len(hits)} hits")
        assert hits == []


@contextmanager
def _running(case: Daemon, base_url: str) -> Iterator[None]:
    """`dagster-daemon run` on a fresh local instance holding one failed duplicate check (so the
    sensor has an alert to send), with the Telegram settings given, until the block ends."""
    local_dagster_home(case.root)
    with case.instance() as instance:
        report_failed_duplicate_check(instance)
    env = local_env(case.root) | {
        TOKEN_VARIABLE: case.token,
        "TELEGRAM_CHAT_ID": "-100200300",
        BASE_URL_VARIABLE: base_url,
    }
    with case.output.open("wb") as sink:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sessions = {daemon.pid}
    try:
        yield
    finally:
        sessions |= descendant_sessions(daemon.pid)
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for pid in session_processes(sessions):
            kill(pid)
        daemon.wait()


def _finished_ticks(case: Daemon) -> list:
    with case.instance() as instance:
        states = [s for s in instance.all_instigator_state() if s.name == "alert_sensor"]
        ticks = [tick for s in states for tick in instance.get_ticks(s.instigator_origin_id, s.selector_id)]
    return [tick for tick in ticks if tick.status.value != "STARTED"]


def _chain_text(error) -> str:
    texts = []
    while error is not None:
        texts.append(error.message)
        error = error.cause or error.context
    return "\n".join(texts)


def _hits(root: Path, searched: list[bytes]) -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(root)), needle.decode())
        for path in _files(root)
        for needle in searched
        if needle in path.read_bytes()
    ]


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_a_run_failing_on_an_unreachable_mongodb_keeps_its_password_out_of_every_file(tmp_path, capfd):
    """The whole pipeline on a DAGSTER_HOME, MongoDB's password written in its URL: each
    `*_mongo_collection` step fails, and the failures Dagster records name the server, not it."""
    home = local_dagster_home(tmp_path)
    url = f"mongodb://{IN_URL}:{free_port()}/?authSource=admin"
    platform = make_platform(tmp_path, mongo=MongoDocumentStoreResource(url=url))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dataclasses.replace(platform, instance=instance).run()
        failures = [event for event in result.all_events if event.is_step_failure]
    assert {event.step_key for event in failures} == {e.asset_name(Stage.MONGO_COLLECTION) for e in ENTITIES}
    for event in failures:
        assert "127.0.0.1" in event.step_failure_data.error.to_string()

    (tmp_path / "output.log").write_text("".join(capfd.readouterr()))
    files = _files(tmp_path)
    assert {"runs.db", "index.db", "output.log"} <= {path.name for path in files}
    searched = [needle.encode() for written in (PASSWORD, quote_plus(PASSWORD)) for needle in needles(written)]
    hits = _hits(tmp_path, searched)
    print(f"{len(failures)} failed steps, {len(files)} files searched, {len(hits)} hits")
    assert hits == []
