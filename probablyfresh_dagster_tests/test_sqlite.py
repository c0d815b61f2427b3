"""The SQLite connection the embedded document store and event log share."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

from probablyfresh_dagster.resources.sqlite import PAGE_SIZE, connect

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


def test_a_new_file_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    """Documents and messages of a few KB stay inline in 16 KB pages (see `PAGE_SIZE`)."""
    new = connect(str(tmp_path / "new.sqlite3"), SCHEMA)
    assert new.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    new.close()
    older = sqlite3.connect(tmp_path / "older.sqlite3")
    older.execute("PRAGMA page_size = 4096")
    older.executescript(SCHEMA)
    older.close()
    reopened = connect(str(tmp_path / "older.sqlite3"), SCHEMA)
    assert reopened.execute("PRAGMA page_size").fetchone() == (4096,)
    assert reopened.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reopened.close()
