"""What the Dagster catalog says about an asset: its owners, and for a ClickHouse table its name
and, once materialized, its columns as ClickHouse reports them."""

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.sql import query

OWNERS = ["team:data-platform"]


def table_name(table: str) -> dict[str, object]:
    return {"dagster/table_name": table}


def column_schema(client: Client, table: str) -> dict[str, object]:
    columns = [
        dg.TableColumn(name, type, description=comment or None)
        for name, type, comment in query(client, "queries/columns", table=table).result_rows
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}
