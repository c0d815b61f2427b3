"""A MART run reads only the RAW rows past its watermark: the statements of the load path
(`mart_load.unjudged_ranges` and `mart_load.load`) go through RAW's sorting key and the
`next_offsets` projection, and the MART through its key, so what they read grows with the new rows
(and the MART rows of their keys), not with RAW."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.entities import PURCHASES, STORES
from probablyfresh_dagster.resources.clickhouse import EMBEDDED_SETTINGS
from probablyfresh_dagster.sql import run_script, statements

RAW_ROWS = 200_000
NEW_ROWS = 1_000
PARTITIONS = 2
GRANULE = 8192
"""Rows per primary-key mark: a range starting inside an old part also reads its last granule."""


def selected_rows(client: Any) -> int:
    """Rows the engine has selected from MergeTree tables so far (chDB keeps no query_log)."""
    return client.query("SELECT value FROM system.events WHERE event = 'SelectedRows'").first_row[0]


def land(client: Any, first: int, count: int) -> None:
    """RAW rows `first`…`first + count - 1` of a stores topic, alternating between the partitions."""
    client.command(
        """
        INSERT INTO stores_raw (topic, partition, offset, key, payload)
        SELECT 'stores', number % {partitions:UInt32}, intDiv(number, {partitions:UInt32}), concat('store-', toString(number)),
               concat('{"store_id": "store-', toString(number), '", "store_name": "Shop", "last_inventory_date": "2024-05-01"}')
        FROM numbers({first:UInt64}, {count:UInt64})
        """,
        parameters={"first": first, "count": count, "partitions": PARTITIONS},
    )


def mart_run(client: Any, run_id: str) -> tuple[int, int]:
    """(RAW rows judged, rows the run's statements read from every table)."""
    before = selected_rows(client)
    ranges = mart_load.unjudged_ranges(client, STORES)
    for offsets in ranges:
        mart_load.load(client, STORES, offsets, run_id)
    return sum(r.upper - r.lower for r in ranges), selected_rows(client) - before


@pytest.fixture
def client(tmp_path: Path):
    client = clickhouse_connect.get_client(dsn=f"chdb:///{tmp_path / 'clickhouse'}")
    try:
        mart_load.prepare(client, STORES)
        yield client
    finally:
        client.close()


def test_a_mart_run_reads_the_new_rows_not_raw(client) -> None:
    land(client, 0, RAW_ROWS)
    # Judged in ranges of at most JUDGED_OFFSETS, each held in memory while it is judged.
    cut = mart_load.JUDGED_OFFSETS
    per_partition = RAW_ROWS // PARTITIONS
    assert [(r.partition, r.lower, r.upper) for r in mart_load.unjudged_ranges(client, STORES)] == [
        (partition, lower, upper) for partition in range(PARTITIONS) for lower, upper in ((0, cut), (cut, per_partition))
    ]
    judged, read = mart_run(client, "first")
    assert judged == RAW_ROWS
    # RAW is read once (the judgement, in ranges of at most JUDGED_OFFSETS), the judged rows four
    # times (the rejects; each key's candidates, their keys, the winners' rows), and for each range
    # the MART's rows near its keys: at most what the MART holds by then, these keys being spread
    # over all of it (0 + 65,536 + 100,000 + 165,536 rows here, about 1.66 × RAW).
    assert 5 * RAW_ROWS <= read < 5.2 * RAW_ROWS + 1.66 * RAW_ROWS

    judged, read = mart_run(client, "nothing new")
    assert judged == 0
    assert read < 1_000, f"{read} rows read with nothing new in a RAW of {RAW_ROWS}"  # a few per part and table

    land(client, RAW_ROWS, NEW_ROWS)
    judged, read = mart_run(client, "a few new")
    assert judged == NEW_ROWS
    # The judgement reads RAW's new rows and a granule per partition, the later statements the judged
    # rows four times; the MART, the granules holding the new keys (in string order they run between
    # the old keys with the same prefix: two granules per partition at most here).
    assert read < (NEW_ROWS + PARTITIONS * GRANULE) + 4 * NEW_ROWS + 2 * PARTITIONS * GRANULE, (
        f"{read} rows read for {NEW_ROWS} new ones in a RAW of {RAW_ROWS + NEW_ROWS}"
    )
    assert client.query("SELECT count() FROM stores_mart FINAL").first_item["count()"] == RAW_ROWS + NEW_ROWS


PURCHASES_ROWS = 20_000
LINES = 3


def test_purchases_and_their_lines_read_raw_once(client, monkeypatch) -> None:
    """The winners' lines come typed from the judgement's rows: once a range is judged, nothing reads
    RAW again (here RAW is emptied right after the judgement, and every line still arrives)."""

    def raw_emptied_after_judgement(on: Any, name: str, **parameters: Any) -> None:
        run_script(on, name, **parameters)
        if name == "mart_load/judge":
            on.command("TRUNCATE TABLE purchases_raw")

    mart_load.prepare(client, PURCHASES)
    client.command(
        """
        INSERT INTO purchases_raw (topic, partition, offset, key, payload)
        SELECT 'purchases', 0, number, concat('ord-', toString(number)), concat(
            '{"purchase_id": "ord-', toString(number), '", "customer": {"customer_id": "c"}, "store": {"store_id": "s"},',
            ' "total_amount": 3, "purchase_datetime": "2024-05-01T10:00:00", "items": [',
            arrayStringConcat(arrayMap(n -> concat(
                '{"product_id": "p', toString(n), '", "name": "Milk", "quantity": 1, "price_per_unit": 1, "total_price": 1}'
            ), range({lines:UInt8})), ', '),
            ']}'
        )
        FROM numbers({rows:UInt64})
        """,
        parameters={"rows": PURCHASES_ROWS, "lines": LINES},
    )
    (offsets,) = mart_load.unjudged_ranges(client, PURCHASES)
    monkeypatch.setattr(mart_load, "run_script", raw_emptied_after_judgement)
    mart_load.load(client, PURCHASES, offsets, "one range")
    assert client.query("SELECT count() FROM purchases_raw").result_rows == [(0,)]
    assert client.query("SELECT count() FROM purchases_mart FINAL").result_rows == [(PURCHASES_ROWS,)]
    lines = "SELECT count(), uniqExact(purchase_id), max(line_no), any(product_name) FROM purchase_items_mart FINAL"
    assert client.query(lines).result_rows == [(PURCHASES_ROWS * LINES, PURCHASES_ROWS, LINES, "milk")]


def test_a_range_is_judged_in_as_many_streams_as_threads(client) -> None:
    """A full range of rows the size of a purchase's (about 2 KB), in one merged part: below the
    rows and bytes from which ClickHouse reads in parallel by default, so without judge.sql's
    settings it is read, and judged, in one stream. With them, in max_threads streams."""
    client.command(
        """
        INSERT INTO stores_raw (topic, partition, offset, key, payload)
        SELECT 'stores', 0, number, toString(number),
               concat('{"store_id": "', toString(number), '", "notes": "', repeat('x', 2000), '"}')
        FROM numbers({rows:UInt64})
        """,
        parameters={"rows": mart_load.JUDGED_OFFSETS + 500},
    )
    client.command("OPTIMIZE TABLE stores_raw FINAL")
    create = statements("mart_load/judge")[-1]
    bounds = {
        "checked": mart_load.checked_view(STORES.mart_table),
        "partition": 0,
        "lower": 0,
        "upper": mart_load.JUDGED_OFFSETS,
    }
    threads = EMBEDDED_SETTINGS["max_threads"]
    explain = "EXPLAIN PIPELINE " + create[create.index("SELECT") :]
    pipeline = client.query(explain, parameters=bounds, settings={"max_threads": threads}).result_rows
    reads = [step for (step,) in pipeline if "MergeTreeSelect" in step]
    assert reads and all(f"× {threads}" in step for step in reads), pipeline
