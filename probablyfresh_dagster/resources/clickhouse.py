"""ClickHouse through clickhouse-connect: HTTP in production, chDB (`chdb:///path`) embedded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.file_lock import exclusive_file_lock
from probablyfresh_dagster.private_files import private_dir

_CHDB = "chdb:///"


class ClickHouseResource(dg.ConfigurableResource):
    """One client per use, closed afterwards.

    chDB runs one engine per data folder and refuses a second process while the first holds
    it. Assets touching ClickHouse share the `clickhouse` concurrency pool, and on top of that
    every chDB client is opened under an exclusive file lock beside the folder, so processes
    the pool does not govern (a sensor, a test, a second `dagster dev`) wait instead of failing.
    The lock file and the chDB folder are owner-only, like the rest of the local state.

    `username` and `password`, when set, are given to clickhouse-connect apart from the DSN, so
    a password needs no percent-encoding.
    """

    dsn: str
    username: str | None = None
    password: str | None = None

    @contextmanager
    def client(self) -> Iterator[Client]:
        with self._exclusive():
            credentials = {"username": self.username, "password": self.password}
            client = clickhouse_connect.get_client(dsn=self.dsn, **{k: v for k, v in credentials.items() if v})
            try:
                yield client
            finally:
                client.close()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self.dsn.startswith(_CHDB):
            yield
            return
        folder = Path("/" + self.dsn.removeprefix(_CHDB))
        with exclusive_file_lock(folder.with_name(folder.name + ".lock"), f"ClickHouse (chDB in {folder})"):
            private_dir(folder)
            yield
