"""The examples a step or a check names (the first `EXAMPLES_SHOWN`), as a table in the Dagster UI."""

from collections.abc import Sequence

import dagster as dg

Cell = str | int | float | bool | None


def examples_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> dg.TableMetadataValue:
    """`rows` as a table in the Dagster UI. A value a table cell cannot hold (a date, a decimal, a
    list) is shown as its text; the column types are those of the first row."""
    records = [dg.TableRecord(dict(zip(columns, map(_cell, row), strict=True))) for row in rows]
    first = records[0].data if records else {}
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, dg.TableMetadataValue.infer_column_type(first.get(name))) for name in columns]
    )
    return dg.MetadataValue.table(records, schema)


def _cell(value: object) -> Cell:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
