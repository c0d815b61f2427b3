"""What the embedded document store and event log share: a SQLite file several processes use."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from probablyfresh_dagster.failure_causes import naming_the_cause
from probablyfresh_dagster.free_space import require_free_space
from probablyfresh_dagster.private_files import narrow_file, private_file

BUSY_TIMEOUT_SECONDS = 30.0
WAL_SWITCH_RETRY_SECONDS = 0.01
PAGE_SIZE = 16384
"""Rows here are documents and messages of 1-3 KB. With SQLite's default 4 KB pages, a row of a
WITHOUT ROWID table over about 1 KB spills into overflow pages, rewritten whole when the row is
updated: 16 KB pages keep them inline, faster and in a smaller file (figures: README, Performance).
A file created with smaller pages keeps them."""


def connect(path: str, schema: str) -> sqlite3.Connection:
    """A WAL-mode connection in autocommit mode, the schema applied; writers wait, not fail.

    The file is created owner-only before SQLite opens it: SQLite gives its -wal and -shm files
    the database file's mode, and the document store holds clear personal data. Nothing is
    created when the folder has less free space than the margin (`free_space`).
    """
    with _naming_the_cause(Path(path)):
        require_free_space(Path(path).parent)
        database = private_file(Path(path))
        for companion in ("-wal", "-shm"):
            narrow_file(database.with_name(database.name + companion))
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file only: set before WAL, or never
        _switch_to_wal(db)
        db.executescript(schema)
        return db


def _naming_the_cause(database: Path) -> AbstractContextManager[None]:
    companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    return naming_the_cause(database.parent, f"the SQLite file {database.name}", [database, *companions])


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """Connections racing to switch a new file to WAL can each hold the shared lock the other
    needs gone; SQLite then answers "database is locked" at once instead of calling the busy
    handler, so the switch is retried here until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_SECONDS)


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Take the write lock up front, so a concurrent writer waits instead of failing later.

    On a full disk (and other I/O errors) SQLite rolls the transaction back by itself: the
    explicit rollback then would fail, and its error would hide the real one."""
    with _naming_the_cause(Path(db.execute("PRAGMA database_list").fetchone()[2])):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
