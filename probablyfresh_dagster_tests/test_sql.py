"""sql: the SQL files read as package resources, and the code version the assets take from them."""

import subprocess
import sys

from probablyfresh_dagster import sql
from probablyfresh_dagster.settings import PROJECT_ROOT


def test_the_files_read_are_those_of_infra_clickhouse():
    assert sql.text("queries/raw_keys") == (PROJECT_ROOT / "infra/clickhouse/queries/raw_keys.sql").read_text()


def test_code_version_is_stable_across_processes_and_follows_each_named_file(monkeypatch):
    version = sql.code_version("raw", "marts/stores")
    in_another_process = subprocess.run(
        [sys.executable, "-c", "from probablyfresh_dagster import sql; print(sql.code_version('raw', 'marts/stores'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert len(version) == 12 and version == in_another_process
    assert version != sql.code_version("raw")

    original = sql.text
    for edited in ("raw", "marts/stores"):
        monkeypatch.setattr(sql, "text", lambda name, edited=edited: original(name) + ("\n" if name == edited else ""))
        assert sql.code_version("raw", "marts/stores") != version
