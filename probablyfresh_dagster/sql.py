"""Runs the SQL kept in `infra/clickhouse/` with ClickHouse server-side query parameters.

The package reads it as a resource, `probablyfresh_dagster/clickhouse_sql/`: a symlink to
`infra/clickhouse` in the repository (its one copy, which docker-compose mounts too), the files
themselves in an installed wheel (pyproject.toml's package-data), so a non-editable install has them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.common import StreamContext
from clickhouse_connect.driver.query import QueryResult

SQL_DIR = files("probablyfresh_dagster") / "clickhouse_sql"
_STATEMENT_END = re.compile(r";\s*(?:\n|$)")
_ONLY_COMMENTS = re.compile(r"(?:\s*--[^\n]*(?:\n|$))*\s*")
"""Comment lines and white space alone. Each line matches in one way only, so a text that is not
all comments fails in time linear in its length (a pattern whose repetitions could share the line
breaks between them backtracks exponentially in the lines: see the README's Performance)."""


@cache
def text(name: str) -> str:
    """The text of `infra/clickhouse/<name>.sql` (`name` may hold `/`, as in `queries/raw_keys`)."""
    return SQL_DIR.joinpath(*f"{name}.sql".split("/")).read_text(encoding="utf-8")


@cache
def statements(name: str) -> tuple[str, ...]:
    """The statements of `infra/clickhouse/<name>.sql`, split on a `;` that ends a line."""
    return tuple(s.strip() for s in _STATEMENT_END.split(text(name)) if not _ONLY_COMMENTS.fullmatch(s))


def code_version(*names: str) -> str:
    """A short digest of the named files' text, for an asset's `code_version`: it changes when
    one of them does, so Dagster shows the asset's materialization as stale."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{text(name)}\0".encode())
    return digest.hexdigest()[:12]


def run_script(client: Client, name: str, **parameters: Any) -> None:
    """Apply every statement of a script; the DDL in them is `IF NOT EXISTS`, so re-runs are safe."""
    for statement in statements(name):
        client.command(statement, parameters=parameters)


def query(client: Client, name: str, **parameters: Any) -> QueryResult:
    """The result of a single-statement query file."""
    (statement,) = statements(name)
    return client.query(statement, parameters=parameters)


def one_row(client: Client, name: str, **parameters: Any) -> Sequence[Any]:
    """The row of a single-statement query file that always returns one (an aggregate without
    GROUP BY, or a query over such); clickhouse-connect's `first_row` is None for no row."""
    row = query(client, name, **parameters).first_row
    if row is None:
        raise RuntimeError(f"{name}.sql returned no row")
    return row


def stream_rows(client: Client, name: str, **parameters: Any) -> StreamContext:
    """The rows of a single-statement query file, streamed block by block (use it with `with`)."""
    (statement,) = statements(name)
    return client.query_rows_stream(statement, parameters=parameters)
