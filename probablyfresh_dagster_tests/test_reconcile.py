"""The key comparisons behind counts_reconcile, on plain sorted key streams."""

from probablyfresh_dagster.checks.reconcile import documents_vs_raw
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.sql import run_script, stream_rows

KEYS = ["Zeta", "alpha", "ä", "ёж", "Яблоко", "store-001"]


def named(states, raw_keys, kafka_lag=0) -> list[tuple[str, str]]:
    return [(u.key, u.why) for u in documents_vs_raw(states, raw_keys, kafka_lag)]


def test_the_merge_names_the_keys_found_on_one_side_only():
    states = [("a", False), ("b", True), ("d", False), ("f", False)]
    assert named(states, ["a", "c", "d", "e"]) == [
        ("b", "in MongoDB, not in RAW: not yet published"),
        ("c", "in RAW, not in MongoDB: its documents were removed, or another producer published it"),
        ("e", "in RAW, not in MongoDB: its documents were removed, or another producer published it"),
        ("f", "in MongoDB, not in RAW: published, yet RAW does not hold it"),
    ]


def test_a_published_key_missing_from_raw_is_blamed_on_consumer_lag_while_there_is_some():
    assert named([("a", False)], [], kafka_lag=3) == [("a", "in MongoDB, not in RAW: published, not consumed into RAW yet")]


def test_streams_that_hold_the_same_keys_name_none():
    assert named(((key, False) for key in sorted(KEYS)), iter(sorted(KEYS))) == []
    assert named([], []) == []


def test_raw_keys_come_in_the_order_the_document_store_sorts_them(tmp_path):
    """Code point order, as Python, SQLite and MongoDB compare UTF-8: the merge relies on it."""
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client:
        run_script(client, "raw", table="stores_raw")
        client.insert(
            "stores_raw",
            [("stores", 0, n, key, "{}") for n, key in enumerate(KEYS * 2)],
            column_names=("topic", "partition", "offset", "key", "payload"),
        )
        with stream_rows(client, "queries/raw_keys", table="stores_raw") as rows:
            assert [key for (key,) in rows] == sorted(KEYS)
