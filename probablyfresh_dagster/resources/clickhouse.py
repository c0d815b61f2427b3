"""ClickHouse through clickhouse-connect: HTTP in production, chDB (`chdb:///path`) embedded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import dagster as dg
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseError
from pydantic import PrivateAttr

from probablyfresh_dagster.failure_causes import naming_the_cause, naming_the_server
from probablyfresh_dagster.free_space import require_free_space
from probablyfresh_dagster.lock_waits import exclusive_file_lock
from probablyfresh_dagster.private_files import private_dir
from probablyfresh_dagster.resources import chdb_repair
from probablyfresh_dagster.scrub import secrets_kept_out, url_password
from probablyfresh_dagster.settings import resolved
from probablyfresh_dagster.transient import retrying, step_retried_when_transient

_CHDB = "chdb:///"
CLICKHOUSE_POOL = "clickhouse"
"""The Dagster pool of every step that opens ClickHouse: chDB allows one process per data folder."""
CLICKHOUSE_STEP = {"probablyfresh/backend": "clickhouse"}
"""The op tag of those steps, which the docker profile's executor runs one at a time (see `definitions.EXECUTORS`)."""

EMBEDDED_SETTINGS = {
    "max_threads": 2,
    "max_insert_threads": 1,
    "max_block_size": 16_384,
    "min_insert_block_size_rows": 65_536,
    "min_insert_block_size_bytes": 16 << 20,
    "max_memory_usage": 768 << 20,
}
"""Session settings of a chDB client: chDB shares the process (and its memory) with Dagster, so
its blocks stay small, and a query that would pass 768 MiB fails instead of swelling the process.
ClickHouse squashes an `INSERT … SELECT`'s rows into blocks of `min_insert_block_size_*` before
writing a part (by default about 1M rows or 256 MiB): smaller blocks lowered the MART's peak and
took no longer (figures: README, Performance)."""


class ClickHouseResource(dg.ConfigurableResource):
    """One client per use, closed afterwards.

    chDB runs one engine per data folder and refuses a second process while the first holds
    it. Assets touching ClickHouse share the `clickhouse` concurrency pool, and on top of that
    every chDB client is opened under an exclusive file lock beside the folder, so processes
    the pool does not govern (a sensor, a test, a second `dagster dev`) wait instead of failing.
    The lock file and the chDB folder are owner-only, like the rest of the local state. A chDB
    folder with less free space than the margin is not opened (`free_space`), and a full disk,
    a file size limit or a refused permission met in it is named so (`failure_causes`).

    `username` and `password`, when set, are given to clickhouse-connect apart from the DSN, so
    a password needs no percent-encoding. Whatever the client raises leaves scrubbed of either
    password (see `scrub`).

    Before chDB opens its folder, metadata a full disk or a crash left empty or cut short is set
    aside and the tables restored once it is open (`chdb_repair`); `repairs` tells what was done.

    `cluster`, when set, names the replicated ClickHouse cluster the DSN's server belongs to: its
    tables are the cluster form of the DDL (`cluster_ddl`, applied once by the operator), and the
    RAW loader inserts blocks with deduplication tokens (`raw_blocks`).
    """

    dsn: str
    username: str | None = None
    password: str | None = None
    cluster: str | None = None
    _repairs: list[str] = PrivateAttr(default_factory=list)

    @contextmanager
    def client(self, wait_seconds: float | None = None) -> Iterator[Client]:
        """With `wait_seconds`, a chDB folder another process holds longer raises `filelock.Timeout`
        (for a sensor, which must not hold up a tick)."""
        embedded = self.dsn.startswith(_CHDB)
        with (
            nullcontext() if embedded else step_retried_when_transient(),
            secrets_kept_out(self.password, url_password(self.dsn)),
            self._exclusive(wait_seconds) as repair,
        ):

            def connect() -> Client:
                return clickhouse_connect.get_client(
                    dsn=resolved(self.dsn),
                    username=self.username or None,
                    password=self.password or "",
                    settings=EMBEDDED_SETTINGS if embedded else None,
                )

            # A server may be restarting; chDB is this process.
            client = connect() if embedded else retrying(f"ClickHouse at {urlsplit(self.dsn).netloc.rpartition('@')[2]}", connect)
            try:
                if repair:
                    self._repairs += chdb_repair.restore(client, repair)
                yield client
            finally:
                client.close()

    def repairs(self) -> list[str]:
        """What the chDB repair did since the last call, one line per thing (for a step's metadata)."""
        done, self._repairs[:] = list(self._repairs), []
        return done

    @contextmanager
    def _exclusive(self, wait_seconds: float | None) -> Iterator[chdb_repair.Repair | None]:
        if not self.dsn.startswith(_CHDB):
            with naming_the_server("ClickHouse", self.dsn, ClickHouseError):
                yield None
            return
        folder = Path("/" + resolved(self.dsn).removeprefix(_CHDB).lstrip("/"))
        with naming_the_cause(folder, "ClickHouse (chDB)"):
            require_free_space(folder)
            with exclusive_file_lock(folder.with_name(folder.name + ".lock"), f"ClickHouse (chDB in {folder})", wait_seconds):
                require_free_space(folder)  # again: the step it waited for may have taken the space
                private_dir(folder)
                yield chdb_repair.set_aside(folder)
