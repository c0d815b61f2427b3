"""The SQLite connection the embedded document store and event log share."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from probablyfresh_dagster.resources.sqlite import connect

SCHEMA = "CREATE TABLE IF NOT EXISTS opened (pid INTEGER NOT NULL);"
ROUNDS, PROCESSES = 100, 6


def connect_when_told(path: Path, go: Path) -> None:
    while not go.exists():
        time.sleep(0.0005)
    db = connect(str(path), SCHEMA)
    db.execute("INSERT INTO opened (pid) VALUES (?)", (os.getpid(),))
    db.close()


def test_processes_opening_a_new_file_at_the_same_moment_all_connect(tmp_path: Path) -> None:
    """The first connections to a new file race to switch it to WAL; the loser must wait like
    any writer, not fail (it failed one of two publishers started at once). The race is narrow:
    forked processes, cheap to start, open a new file together many times over."""
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path, go = tmp_path / f"{round_}.sqlite3", tmp_path / f"go-{round_}"
        openers = [context.Process(target=connect_when_told, args=(path, go)) for _ in range(PROCESSES)]
        for opener in openers:
            opener.start()
        go.touch()
        for opener in openers:
            opener.join(timeout=60)
        assert [opener.exitcode for opener in openers] == [0] * PROCESSES, f"round {round_}"
        db = connect(str(path), SCHEMA)
        assert db.execute("SELECT count(DISTINCT pid) FROM opened").fetchone() == (PROCESSES,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()
