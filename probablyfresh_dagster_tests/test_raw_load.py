"""The RAW load's insert: payload bytes stored exactly as consumed, and no pandas import."""

import subprocess
import sys
import textwrap

from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import Message
from probablyfresh_dagster.row_binary import RAW_COLUMNS, ROW_BINARY, raw_rows
from probablyfresh_dagster.sql import run_script


def test_raw_rows_reach_clickhouse_byte_for_byte(tmp_path):
    messages = [
        Message("stores", 0, 0, "store-001", b'{"name":"\xd0\x81"}'),
        Message("stores", 2, 2**40, "\ufffdkey", b"\xff not UTF-8"),  # a foreign producer's bytes
        Message("stores", 4_000_000_000, 7, "", b"x" * 20_000),  # a three-byte length prefix
    ]
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'ch'}").client() as client:
        run_script(client, "raw", table="stores_raw")
        client.raw_insert("stores_raw", RAW_COLUMNS, raw_rows(messages), fmt=ROW_BINARY)
        stored = client.query(
            "SELECT topic, partition, offset, key, hex(payload) FROM stores_raw ORDER BY partition"
        ).result_rows
    assert stored == [(m.topic, m.partition, m.offset, m.key, m.value.hex().upper()) for m in messages]


def test_neither_raw_nor_mart_imports_pandas(tmp_path):
    """clickhouse-connect's `insert` imports pandas (0.5 to 0.9 s) to ask whether rows are a
    DataFrame; the RAW and MART steps, in a process of their own, must not."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import dagster as dg
        from probablyfresh_dagster.definitions import build_definitions
        from probablyfresh_dagster.generator import GeneratorConfig, generate
        from probablyfresh_dagster.settings import Settings

        settings = Settings(profile="local", state_dir=Path({str(tmp_path / 'state')!r}), data_dir=Path({str(tmp_path / 'data')!r}))
        generate(GeneratorConfig(), settings.data_dir)
        defs = build_definitions(settings)
        stages = ["stores_mongo_collection", "stores_kafka_topic"]
        with dg.DagsterInstance.ephemeral() as instance:
            job = defs.resolve_job_def("pipeline")
            assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(s) for s in stages]).success
            assert "pandas" not in sys.modules, "imported before the RAW load"
            result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("stores_clickhouse_raw"), dg.AssetKey("stores_mart")])
            assert result.success
        print(result.asset_materializations_for_node("stores_clickhouse_raw")[0].metadata["inserted"].value)
        print("pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    inserted, pandas_imported = done.stdout.split()[-2:]
    assert (int(inserted), pandas_imported) == (45, "False")
