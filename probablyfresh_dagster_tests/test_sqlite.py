"""The SQLite connection the embedded document store and event log share."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from probablyfresh_dagster.resources.sqlite import PAGE_SIZE, connect

SCHEMA = "CREATE TABLE IF NOT EXISTS opened (pid INTEGER NOT NULL);"
ROUNDS, PROCESSES = 100, 6


def connect_when_told(path: Path, go: Path) -> None:
    while not go.exists():
        time.sleep(0.0005)
    db = connect(str(path), SCHEMA)
    db.execute("INSERT INTO opened (pid) VALUES (?)", (os.getpid(),))
    db.close()


def open_together(folder: Path, rounds: int) -> list[tuple[list[int | None], int, str]]:
    """`rounds` times, PROCESSES forked processes open a new file at the same moment; per round,
    their exit codes, how many of them the file recorded and its journal mode."""
    context = multiprocessing.get_context("fork")
    outcomes = []
    for round_ in range(rounds):
        path, go = folder / f"{round_}.sqlite3", folder / f"go-{round_}"
        openers = [context.Process(target=connect_when_told, args=(path, go)) for _ in range(PROCESSES)]
        for opener in openers:
            opener.start()
        go.touch()
        for opener in openers:
            opener.join(timeout=60)
        db = connect(str(path), SCHEMA)
        (recorded,) = db.execute("SELECT count(DISTINCT pid) FROM opened").fetchone()
        (journal_mode,) = db.execute("PRAGMA journal_mode").fetchone()
        db.close()
        outcomes.append(([opener.exitcode for opener in openers], recorded, journal_mode))
    return outcomes


@pytest.mark.slow
def test_processes_opening_a_new_file_at_the_same_moment_all_connect(tmp_path: Path) -> None:
    """The first connections to a new file race to switch it to WAL; the loser must wait like
    any writer, not fail (it failed one of two publishers started at once). The race is narrow:
    forked processes, cheap to start, open a new file together many times over. They are forked
    by a small spawned process, not by the xdist worker that holds Dagster and chDB: a copy of
    that costs more to make and to end (the whole test ~10 % here; it took 54-115 s in CI)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as launcher:
        outcomes = launcher.submit(open_together, tmp_path, ROUNDS).result()
    assert len(outcomes) == ROUNDS
    for round_, outcome in enumerate(outcomes):
        assert outcome == ([0] * PROCESSES, PROCESSES, "wal"), f"round {round_}"


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
