"""How far a running ClickHouse statement has read, for the progress of a step that is a few long
statements (the MART's): without it such a step reports only between statements.

chDB calls a connection's progress callback about every 100 ms while a statement runs, with the
rows read so far and the rows the statement expects to read (`total_rows_to_read`, 0 while not
known). clickhouse-connect 1.12 does not expose that callback, so it is set on the connection
handle of the client's chDB backend. A client without one (a ClickHouse server over HTTP) reports
nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from clickhouse_connect.driver.client import Client


@contextmanager
def reading(client: Client, report: Callable[[float], None]) -> Iterator[None]:
    """While inside, `report(share)` gets the share (0 to 1) of its input the running statement has read."""
    connection = _chdb_connection(client)
    if connection is None:
        yield
        return

    def on_progress(payload: Mapping[str, int]) -> None:
        expected = payload.get("total_rows_to_read", 0)
        if expected > 0:
            report(min(payload.get("read_rows", 0) / expected, 1.0))

    connection.set_progress_callback(on_progress)
    try:
        yield
    finally:
        connection.set_progress_callback(None)


def _chdb_connection(client: Client) -> Any | None:
    handle = getattr(getattr(client, "_backend", None), "_handle", None)
    connection = getattr(handle, "conn", None)
    return connection if hasattr(connection, "set_progress_callback") else None
