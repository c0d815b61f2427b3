"""sql: the SQL files read as package resources, and the code version the assets take from them."""

import subprocess
import sys
import time

from probablyfresh_dagster import sql
from probablyfresh_dagster.settings import PROJECT_ROOT


def test_the_files_read_are_those_of_infra_clickhouse():
    assert sql.text("queries/raw_keys") == (PROJECT_ROOT / "infra/clickhouse/queries/raw_keys.sql").read_text()


def test_code_version_is_stable_across_processes_and_follows_each_named_file(monkeypatch):
    version = sql.code_version("raw", "marts/stores")
    in_another_process = subprocess.run(
        [sys.executable, "-c", "from probablyfresh_dagster import sql; print(sql.code_version('raw', 'marts/stores'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert len(version) == 12 and version == in_another_process
    assert version != sql.code_version("raw")

    original = sql.text
    for edited in ("raw", "marts/stores"):
        monkeypatch.setattr(sql, "text", lambda name, edited=edited: original(name) + ("\n" if name == edited else ""))
        assert sql.code_version("raw", "marts/stores") != version


def test_statements_under_many_comment_lines_split_in_linear_time(monkeypatch):
    """Comment lines match one way only: 16 of them took 9 s when their line breaks could be split
    between repetitions in exponentially many ways."""
    comments = "-- a\n" * 16
    script = f"{comments}SELECT 1;\n-- only a comment;\n\n  -- above a statement\nSELECT 2"
    monkeypatch.setattr(sql, "text", lambda name: script)
    started = time.perf_counter()
    assert sql.statements.__wrapped__("any") == (f"{comments}SELECT 1", "-- above a statement\nSELECT 2")
    assert time.perf_counter() - started < 0.1
