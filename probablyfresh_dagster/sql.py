"""Runs the SQL kept in `infra/clickhouse/` with ClickHouse server-side query parameters."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.common import StreamContext
from clickhouse_connect.driver.query import QueryResult

SQL_DIR = Path(__file__).resolve().parent.parent / "infra" / "clickhouse"
_STATEMENT_END = re.compile(r";\s*(?:\n|$)")
_ONLY_COMMENTS = re.compile(r"^(?:\s*--[^\n]*\n?|\s+)*$")


@cache
def statements(name: str) -> tuple[str, ...]:
    """The statements of `infra/clickhouse/<name>.sql`, split on a `;` that ends a line."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return tuple(s.strip() for s in _STATEMENT_END.split(text) if not _ONLY_COMMENTS.match(s))


def run_script(client: Client, name: str, **parameters: Any) -> None:
    """Apply every statement of a script; the DDL in them is `IF NOT EXISTS`, so re-runs are safe."""
    for statement in statements(name):
        client.command(statement, parameters=parameters)


def query(client: Client, name: str, **parameters: Any) -> QueryResult:
    """The result of a single-statement query file."""
    (statement,) = statements(name)
    return client.query(statement, parameters=parameters)


def stream_rows(client: Client, name: str, **parameters: Any) -> StreamContext:
    """The rows of a single-statement query file, streamed block by block (use it with `with`)."""
    (statement,) = statements(name)
    return client.query_rows_stream(statement, parameters=parameters)
