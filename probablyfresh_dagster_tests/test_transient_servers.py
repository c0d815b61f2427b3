"""A load whose MongoDB (FerretDB) stops or whose Kafka broker stalls while the run goes on, and
comes back a little later, waits for it inside the step, or runs the step again when the server
went away in the middle of its work, and lands every document exactly once.

Each server is this test's own (FerretDB is killed and started again on its data, the broker
frozen with SIGSTOP and thawed: a JVM restart would cost half a minute of the suite).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource
from probablyfresh_dagster.resources.mongo_documents import MongoDocumentStore

from .platforms import make_platform, materialization, rows
from .sensor_ticks import add_purchase
from .server_restarts import listening, paused, stopped
from .servers import running

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_a_load_waits_for_mongodb_and_kafka_restarting_and_lands_once(tmp_path, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    monkeypatch.setenv("PROBABLYFRESH_RETRY_SECONDS", "90")  # the default, long enough for a restart
    with running("ferretdb", tmp_path / "ferretdb") as mongo_port, running("kafka", tmp_path / "kafka") as kafka_port:
        platform = make_platform(
            tmp_path,
            mongo=MongoDocumentStoreResource(url=f"mongodb://127.0.0.1:{mongo_port}"),
            # A frozen broker is noticed after one request timeout: 5 s, not the default 10.
            kafka=KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}", timeout_ms=5000),
        )
        generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
        outages = [
            ("MongoDB", mongo_port, stopped(tmp_path / "ferretdb"), "purchases_mongo_collection"),
            ("Kafka", kafka_port, paused(tmp_path / "kafka"), "purchases_kafka_topic"),
        ]
        for server, port, outage, step in outages:
            with listening(f"127.0.0.1:{port} is not reachable") as retries, ThreadPoolExecutor(1) as runner:
                with outage:
                    run = runner.submit(platform.run, step)
                    assert retries.heard.wait(60), f"{step} never retried {server}"
                result = run.result(timeout=120)
            assert result.success, f"{step} failed after {server} came back"
            assert retries.lines[0].endswith("retry 1 in 1 s")

        # MongoDB killed between publishing a batch to Kafka and marking it published, back 7 s
        # later (pymongo gives up after 5 s): the step runs again and publishes nothing twice.
        add_purchase(platform, "ord-99999")
        assert platform.run("purchases_mongo_collection").success
        monkeypatch.setattr(MongoDocumentStore, "mark_published", _going_away(tmp_path / "ferretdb"))
        with listening("went away during the step") as step_retries, listening("Waiting for the publish lease") as lease_waits:
            result = platform.run("purchases_kafka_topic")
        assert result.success
        assert [line.rpartition(" - ")[2] for line in step_retries.lines] == [
            "MongoDB went away during the step (ServerSelectionTimeoutError): the step runs again in 1 s"
        ]
        assert materialization(result, "purchases_kafka_topic")["recovered"] == 1
        # The lease its first attempt could not release is this process's own: taken at once.
        assert lease_waits.lines == []

        assert platform.run("purchases_clickhouse_raw purchases_mart").success
    files = sorted((platform.settings.data_dir / "purchases").glob("*.json"))
    ids = {json.loads(path.read_text(encoding="utf-8"))["purchase_id"] for path in files}
    assert rows(platform, "SELECT count() FROM purchases_raw") == [(len(files),)]
    assert rows(platform, "SELECT count(), uniqExact(purchase_id) FROM purchases_mart FINAL") == [(len(ids), len(ids))]


def _going_away(ferretdb: Path):
    """`MongoDocumentStore.mark_published` that kills FerretDB at its first call marking a version
    published (a batch just committed to Kafka) and starts it again 7 s later."""
    original, outage = MongoDocumentStore.mark_published, stopped(ferretdb)
    calls: list[None] = []

    def mark_published(self, collection, versions, *checkpoint_and_shard):
        if versions and not calls:
            calls.append(outage.__enter__())
            threading.Timer(7, outage.__exit__, (None, None, None)).start()
        return original(self, collection, versions, *checkpoint_and_shard)

    return mark_published
