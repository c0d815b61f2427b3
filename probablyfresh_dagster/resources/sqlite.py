"""What the embedded document store and event log share: a SQLite file several processes use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from probablyfresh_dagster.private_files import narrow_file, private_file

BUSY_TIMEOUT_SECONDS = 30.0


def connect(path: str, schema: str) -> sqlite3.Connection:
    """A WAL-mode connection in autocommit mode, the schema applied; writers wait, not fail.

    The file is created owner-only before SQLite opens it: SQLite gives its -wal and -shm files
    the database file's mode, and the document store holds clear personal data.
    """
    database = private_file(Path(path))
    for companion in ("-wal", "-shm"):
        narrow_file(database.with_name(database.name + companion))
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(schema)
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Take the write lock up front, so a concurrent writer waits instead of failing later."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
