"""What a run left in its state folder, to compare between runs: the MARTs and the delivery figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.outbox import SOURCE_ID, VERSION
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import EventLogResource, SqliteEventLogResource

MART_TABLES = [table for entity in ENTITIES for table in entity.marts]


def marts(state: Path, key: bytes | None = None) -> dict[str, list[tuple]]:
    """Every MART row, without the Kafka coordinates and ingest times a re-run may change, and
    with phone and email decrypted by `key`, by default the state's dev key (each state has its
    own, and Fernet a random IV)."""
    cipher = Fernet(key or (state / "fernet.key").read_bytes())

    def clear(value: object) -> object:
        return cipher.decrypt(value.encode()).decode() if isinstance(value, str) and value.startswith("gAAAAA") else value

    with ClickHouseResource(dsn=f"chdb:///{state / 'clickhouse'}").client() as client:
        snapshot = {}
        for table in MART_TABLES:
            columns = [
                name
                for (name,) in client.query(
                    "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}"
                    " AND NOT startsWith(name, '_') ORDER BY position",
                    parameters={"t": table},
                ).result_rows
            ]
            rows = client.query(f"SELECT {', '.join(columns)} FROM {table} FINAL").result_rows
            snapshot[table] = sorted(tuple(map(clear, row)) for row in rows)
        return snapshot


def delivery_figures(
    state: Path, kafka: EventLogResource | None = None, clickhouse: ClickHouseResource | None = None
) -> dict[str, dict[str, int]]:
    """Per entity: messages in the log, versions published more than once, RAW rows, RAW rows
    repeating a (partition, offset) already there. The backends default to the state's own."""
    kafka = kafka or SqliteEventLogResource(path=str(state / "kafka.sqlite3"))
    clickhouse = clickhouse or ClickHouseResource(dsn=f"chdb:///{state / 'clickhouse'}")
    figures = {}
    with kafka.open() as log, clickhouse.client() as client:
        for entity in ENTITIES:
            messages = [m for batch in log.read(entity.name, {}, log.end_offsets(entity.name)) for m in batch]
            versions = Counter((dict(m.headers)[SOURCE_ID], dict(m.headers)[VERSION]) for m in messages)
            totals = client.query(f"SELECT count(), uniqExact(partition, offset) FROM {entity.raw_table}").first_row
            assert totals is not None  # an aggregate without GROUP BY has its one row
            raw_rows, raw_positions = totals
            figures[entity.name] = {
                "messages": len(messages),
                "republished_versions": sum(n - 1 for n in versions.values()),
                "raw_rows": raw_rows,
                "repeated_raw_offsets": raw_rows - raw_positions,
            }
    return figures
