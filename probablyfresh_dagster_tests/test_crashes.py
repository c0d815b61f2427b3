"""A `make run` killed anywhere is finished by the next one, exactly once.

Each case starts `make run`'s entry point in its own process group, lets it reach one point of
`crashing_run.POINTS` (every stage: generator, MongoDB, the publish path, RAW, MART, the checks),
SIGKILLs the whole group there, then runs `make run` again and asserts: it ends in bounded time
with every check passed; RAW holds no (partition, offset) twice and every message once; no
document version was published twice; the MARTs equal those of a run that was never killed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.outbox import SOURCE_ID, VERSION
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import EventLogResource, SqliteEventLogResource
from probablyfresh_dagster.settings import PROJECT_ROOT

from .crashing_run import POINTS

REACH_SECONDS = 120
RERUN_SECONDS = 240
MART_TABLES = [table for entity in ENTITIES for table in entity.marts]
RECOVERY_NOTICE = re.compile(r"lost its process|interrupted run|waiting for")
"""The lines of a re-run that say what it cleaned up or waited for (printed for the crash matrix)."""


def run_environment(root: Path) -> dict[str, str]:
    """What `make run` sets up: a DAGSTER_HOME with the local instance config, the state and the
    landing zone in `root`, and no FERNET_KEY (the local dev key)."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "infra" / "dagster" / "local.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PROBABLYFRESH_STATE": str(root / "state"),
           "PROBABLYFRESH_DATA": str(root / "data")}
    env.pop("FERNET_KEY", None)
    return env


def start_make_run(env: dict[str, str], log: Path, *arguments: str) -> subprocess.Popen:
    """`make run`'s entry point in its own process group, its output in `log`."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "probablyfresh_dagster.run", *arguments],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def make_run(env: dict[str, str], log: Path) -> int:
    """Run it to the end (in RERUN_SECONDS at most); its exit code."""
    return start_make_run(env, log).wait(timeout=RERUN_SECONDS)


def kill_at(point: str, env: dict[str, str], root: Path) -> None:
    """Start the crashing run, wait until it reaches `point`, SIGKILL its process group."""
    marker, log = root / "paused", root / "crashed.log"
    with log.open("w") as output:
        crashing = subprocess.Popen(
            [sys.executable, "-m", "probablyfresh_dagster_tests.crashing_run", point, str(marker)],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + REACH_SECONDS
    while not marker.exists() and crashing.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert marker.exists(), f"the run never reached {point!r}:\n{log.read_text()[-3000:]}"
    finally:
        os.killpg(crashing.pid, signal.SIGKILL)
        crashing.wait()


def marts(state: Path, key: bytes | None = None) -> dict[str, list[tuple]]:
    """Every MART row, without the Kafka coordinates and ingest times a re-run may change, and
    with phone and email decrypted by `key`, by default the state's dev key (each state has its
    own, and Fernet a random IV)."""
    cipher = Fernet(key or (state / "fernet.key").read_bytes())

    def clear(value: object) -> object:
        return cipher.decrypt(value.encode()).decode() if isinstance(value, str) and value.startswith("gAAAAA") else value

    with ClickHouseResource(dsn=f"chdb:///{state / 'clickhouse'}").client() as client:
        snapshot = {}
        for table in MART_TABLES:
            columns = [
                name for (name,) in client.query(
                    "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}"
                    " AND NOT startsWith(name, '_') ORDER BY position", parameters={"t": table}
                ).result_rows
            ]
            rows = client.query(f"SELECT {', '.join(columns)} FROM {table} FINAL").result_rows
            snapshot[table] = sorted(tuple(map(clear, row)) for row in rows)
        return snapshot


def delivery_figures(
    state: Path, kafka: EventLogResource | None = None, clickhouse: ClickHouseResource | None = None
) -> dict[str, dict[str, int]]:
    """Per entity: messages in the log, versions published more than once, RAW rows, RAW rows
    repeating a (partition, offset) already there. The backends default to the state's own."""
    kafka = kafka or SqliteEventLogResource(path=str(state / "kafka.sqlite3"))
    clickhouse = clickhouse or ClickHouseResource(dsn=f"chdb:///{state / 'clickhouse'}")
    figures = {}
    with kafka.open() as log, clickhouse.client() as client:
        for entity in ENTITIES:
            messages = [m for batch in log.read(entity.name, {}, log.end_offsets(entity.name)) for m in batch]
            versions = Counter((dict(m.headers)[SOURCE_ID], dict(m.headers)[VERSION]) for m in messages)
            totals = client.query(f"SELECT count(), uniqExact(partition, offset) FROM {entity.raw_table}").first_row
            assert totals is not None  # an aggregate without GROUP BY has its one row
            raw_rows, raw_positions = totals
            figures[entity.name] = {
                "messages": len(messages),
                "republished_versions": sum(n - 1 for n in versions.values()),
                "raw_rows": raw_rows,
                "repeated_raw_offsets": raw_rows - raw_positions,
            }
    return figures


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The MARTs and delivery figures of a run that nothing interrupted."""
    root = tmp_path_factory.mktemp("clean")
    env = run_environment(root)
    assert make_run(env, root / "run.log") == 0, (root / "run.log").read_text()[-3000:]
    return marts(root / "state"), delivery_figures(root / "state")


@pytest.mark.parametrize("point", list(POINTS))
def test_a_run_killed_at_any_point_is_finished_exactly_once_by_the_next(point, tmp_path, clean_run) -> None:
    clean_marts, clean_figures = clean_run
    env = run_environment(tmp_path)
    kill_at(point, env, tmp_path)

    started = time.monotonic()
    rerun = make_run(env, tmp_path / "rerun.log")
    output = (tmp_path / "rerun.log").read_text()
    assert rerun == 0, output[-4000:]
    print(json.dumps({"point": point, "rerun_seconds": round(time.monotonic() - started, 1),
                      "said": [line for line in output.splitlines() if RECOVERY_NOTICE.search(line)]}))

    figures = delivery_figures(tmp_path / "state")
    assert figures == clean_figures
    assert all(f["republished_versions"] == f["repeated_raw_offsets"] == 0 for f in figures.values())
    assert all(f["raw_rows"] == f["messages"] for f in figures.values())
    assert marts(tmp_path / "state") == clean_marts
