"""`make run`, paused at one named point so that a test can kill it there.

    python -m probablyfresh_dagster_tests.crashing_run POINT MARKER

runs `probablyfresh_dagster.run` exactly as `make run` does, except that the Nth call matching
the point's target writes MARKER and sleeps: the test then SIGKILLs the process group, as an
operator's `kill -9` or a power cut would. Test code only: the product has no crash hooks; this
wraps product functions from the outside.
"""

from __future__ import annotations

import importlib
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Point:
    """Pause in the `hit`th call of `target` (`module:attribute.path`) whose arguments'
    text matches `when`, before the call or after it returns."""

    target: str
    when: str = ""
    hit: int = 1
    after: bool = False
    yields: int | None = None
    """For a generator function: pause once it has yielded this many items instead."""


KAFKA_LOG = "probablyfresh_dagster.resources.kafka_events:KafkaEventLog"
MONGO_STORE = "probablyfresh_dagster.resources.mongo_documents:MongoDocumentStore"
SQLITE_LOG = "probablyfresh_dagster.resources.sqlite_events:SqliteEventLog"
SQLITE_STORE = "probablyfresh_dagster.resources.sqlite_documents:SqliteDocumentStore"
CLICKHOUSE_CLIENT = "clickhouse_connect.driver._backendclient:SyncBackendClient"  # chDB's and HTTP's
SQL_SCRIPT = "probablyfresh_dagster.sql:run_script"

POINTS: dict[str, Point] = {
    # the generator
    "generate: stores, products, customers written, purchases not yet": Point(
        "probablyfresh_dagster.generator.writing:write_records", when="purchases"
    ),
    "generate: 120 of 200 purchases built": Point("probablyfresh_dagster.generator.writing:iter_purchases", yields=120),
    # JSON files -> MongoDB
    "mongo: inside the first stores upsert transaction": Point(f"{SQLITE_STORE}._upsert_batch", when="stores"),
    "mongo: after the customers upsert, before the asset ends": Point(f"{SQLITE_STORE}.upsert", when="customers", after=True),
    "mongo: rejects list written, not yet renamed into place": Point("os:replace", when="_rejected"),
    # MongoDB -> Kafka
    "fernet: dev key in its temporary file, not yet linked into place": Point("os:link", when="fernet.key"),
    "kafka: holding the publish lease, before the fence": Point(f"{SQLITE_LOG}.fence", when="purchases"),
    "kafka: before the first purchases batch is sent": Point(f"{SQLITE_LOG}.publish", when="purchases"),
    "kafka: mid-batch, inside the log's transaction": Point(
        "probablyfresh_dagster.resources.sqlite_events:partition_for", when="ord-", hit=120
    ),
    "kafka: purchases committed to the log, not yet marked in MongoDB": Point(f"{SQLITE_STORE}.mark_published", when="purchases"),
    "kafka: stores committed to the log, not yet marked in MongoDB": Point(f"{SQLITE_STORE}.mark_published", when="stores"),
    "kafka: purchases marked, asset not yet finished": Point(f"{SQLITE_STORE}.mark_published", when="purchases", after=True),
    # Kafka -> RAW (these hold the ClickHouse pool slot and the chDB lock)
    "raw: purchases inserted into ClickHouse, offsets not committed": Point(f"{SQLITE_LOG}.commit", when="purchases"),
    "raw: customers inserted and committed, end not yet committed": Point(f"{SQLITE_LOG}.commit", when="customers", hit=2),
    "raw: before the purchases insert": Point(f"{CLICKHOUSE_CLIENT}.raw_insert", when="purchases_raw"),
    # RAW -> MART (one RAW range per partition: rejects, the first MART table, the others, the watermark)
    "mart: purchases judged, no reject recorded yet": Point(SQL_SCRIPT, when="mart_load/rejected.*'purchases'"),
    "mart: purchases rejects judged, no MART row loaded yet": Point(SQL_SCRIPT, when="mart_load/accepted.*'purchases_mart'"),
    "mart: purchases loaded, item lines not yet": Point(SQL_SCRIPT, when="mart_load/following.*'purchase_items_mart'"),
    "mart: stores loaded, watermark not yet recorded": Point(SQL_SCRIPT, when="mart_load/watermark.*'stores'"),
    "mart: watermark recorded, this run's duplicates_log row not yet": Point(SQL_SCRIPT, when="'duplicates_log'.*'customers'"),
    # the checks
    "check: stores_count, holding the ClickHouse slot": Point("probablyfresh_dagster.sql:query", when="stores_by_network"),
    "check: Kafka PII scan of purchases": Point("probablyfresh_dagster.checks.pii:sample", when="purchases"),
    "check: counts_reconcile of purchases": Point("probablyfresh_dagster.sql:query", when="raw_summary.*purchases_raw", hit=2),
}
"""Points of a run on the embedded backends (`make run` on a fresh clone)."""

BROKER_POINTS: dict[str, Point] = {
    "kafka broker: before the first purchases batch is sent": Point(f"{KAFKA_LOG}.publish", when="purchases"),
    "kafka broker: mid-transaction, 120 purchases sent": Point("kafka.producer.kafka:KafkaProducer.send", when="ord-", hit=120),
    "kafka broker: purchases committed, not yet marked in MongoDB": Point(f"{MONGO_STORE}.mark_published", when="purchases"),
}
"""Points of a run on a real Kafka broker and a MongoDB-wire server (the docker profile)."""


def install(point: Point, marker: Path, hold: Callable[[], None] = lambda: time.sleep(3600)) -> None:
    """Wrap the point's target so that its matching call writes `marker`, then `hold`s: by
    default for good (the test kills the run there)."""
    module_name, _, path = point.target.partition(":")
    *owners, name = path.split(".")
    owner: Any = importlib.import_module(module_name)
    for part in owners:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    pattern, calls = re.compile(point.when), 0

    def pause() -> None:
        marker.write_text("paused")
        hold()

    def matches(args: tuple, kwargs: dict) -> bool:
        nonlocal calls
        if not pattern.search(repr((args, kwargs))):
            return False
        calls += 1
        return calls == point.hit

    @wraps(original)
    def paused(*args: Any, **kwargs: Any) -> Any:
        if not matches(args, kwargs):
            return original(*args, **kwargs)
        if point.yields is not None:
            return _pausing_after(original(*args, **kwargs), point.yields, pause)
        if not point.after:
            pause()
        result = original(*args, **kwargs)
        if point.after:
            pause()
        return result

    setattr(owner, name, paused)


def _pausing_after(items, count: int, pause: Callable[[], None]):
    for number, item in enumerate(items, start=1):
        yield item
        if number == count:
            pause()


def main(point: str, marker: str) -> int:
    install((POINTS | BROKER_POINTS)[point], Path(marker))
    from probablyfresh_dagster import run

    return run.main([])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
