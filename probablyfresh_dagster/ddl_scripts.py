"""The scripts of `infra/clickhouse/` that create the platform's tables, views and functions, in an
order they can run in: each after those whose tables it reads. chDB's repair recreates what it lost
from them (`resources/chdb_repair`), and the cluster form of the DDL is rendered from them
(`cluster_ddl`)."""

from __future__ import annotations

from collections.abc import Iterator

from probablyfresh_dagster.entities import ENTITIES

Parameters = tuple[tuple[str, str], ...]
"""A script's query parameters, as (name, value) pairs."""


def ddl_scripts() -> Iterator[tuple[str, Parameters]]:
    yield "raw_reloads", ()
    yield "raw_set_aside", ()
    yield "kafka_lag", ()
    yield "mart_common", ()
    for entity in ENTITIES:
        yield "raw", (("table", entity.raw_table),)
    for entity in ENTITIES:
        yield f"marts/{entity.name}", ()
    yield "customer_stores", ()
