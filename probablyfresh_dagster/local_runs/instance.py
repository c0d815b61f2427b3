"""The local instance: Dagster's, on its default SQLite files, with the event log's connections kept open.

`SqliteEventLogStorage` builds an engine and opens a new SQLite connection for every statement
(SQLAlchemy's `NullPool`): a `make run` of 200 purchases opened 633 of them for its 185 events,
and keeping them open took its CPU time from 6.5–7.9 s to 5.2–6.1 s. `PooledSqliteEventLogStorage`
keeps one engine, and so one connection, for each of the last `OPEN_DATABASES` databases it used:
the index, which every run writes, and the run databases. Everything else is Dagster's: the same
files, tables and migrations, each statement still in its own transaction under the storage's
lock (so an engine never needs a second connection), and nothing kept between transactions, so
every read sees what other processes committed.

A process that dies holds nothing more than before: SQLite rolls back its open transaction and
recovers its write-ahead log, exactly as for a connection `NullPool` would have closed.

A step waiting for a pool slot asks again every `POOL_POLL_SECONDS`, and waits without using the
CPU. In Dagster 1.13 a run's executor, while its step waits, computes the time to its next claim as
0 (`InstanceConcurrencyContext.interval_to_next_pending_claim_check` takes `min([0, ...])`), so it
never sleeps: the waiting run kept a core busy, next to the run holding the slot (chDB, which uses
both). And its claims themselves came 1 s apart, growing with each refusal to 15 s, so a step
queued behind a long one (the second shard's RAW step behind the first, the MART behind RAW)
started up to that long after the slot was free. Here a refused claim answers after
`POOL_POLL_SECONDS`, with no interval of its own: the executor asks again at once, and the claims
pace its wait.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as sa
import yaml

# No public export: Dagster's own storages subclass and configure these from the same modules.
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencyClaimStatus

OPEN_DATABASES = 8
"""Databases kept open: the index, the run a process writes, the few runs the UI and the daemon read."""
POOL_POLL_SECONDS = 0.25
"""Between a waiting step's claims of a pool slot: a few reads of the index database each."""


class LocalInstance(dg.DagsterInstance):
    """Dagster's instance on its default SQLite storage in DAGSTER_HOME, with `PooledSqliteStorage`.

    An instance class (`instance_class` in dagster.yaml) is what learns the instance's folder, so
    this one works for `DagsterInstance.get()` and `DagsterInstance.from_config(folder)` alike.
    """

    @classmethod
    def config_schema(cls) -> dict[str, dg.Field]:
        return {}

    @classmethod
    def config_defaults(cls, base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        storage = ConfigurableClassData(__name__, PooledSqliteStorage.__name__, yaml.safe_dump({"base_dir": base_dir}))
        return {**InstanceRef.config_defaults(base_dir), "storage": storage}


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (the same files) with `PooledSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        # The event log Dagster's constructor made holds nothing open (NullPool): nothing is left behind.
        self._event_log_storage = PooledSqliteEventLogStorage(self._event_log_storage._base_dir)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose databases stay open between statements (see the module)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock, self._engine(shard).connect() as connection, connection.begin():
            yield connection

    def _engine(self, shard: str) -> sa.Engine:
        """The shard's engine, now the most recently used; the least recently used beyond `OPEN_DATABASES` closed."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = sa.create_engine(
                self.conn_string_for_shard(shard), pool_size=1, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ) -> ConcurrencyClaimStatus:
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        if status.is_claimed:
            return status
        time.sleep(POOL_POLL_SECONDS)
        return status.with_sleep_interval(0.0)

    def wipe(self) -> None:
        """Close every database first: wiping deletes the run databases' files."""
        self._close_all()
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
