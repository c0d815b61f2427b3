"""A load whose MongoDB (FerretDB) stops or whose Kafka broker stalls while the run goes on, and
comes back a little later, waits for it inside the step and lands every document exactly once.

Each server is this test's own (FerretDB is killed and started again on its data, the broker
frozen with SIGSTOP and thawed: a JVM restart would cost half a minute of the suite).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource

from .platforms import make_platform, rows
from .server_restarts import listening, paused, stopped
from .servers import running

pytestmark = pytest.mark.servers


def test_a_load_waits_for_mongodb_and_kafka_restarting_and_lands_once(tmp_path, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    with running("ferretdb", tmp_path / "ferretdb") as mongo_port, running("kafka", tmp_path / "kafka") as kafka_port:
        platform = make_platform(
            tmp_path,
            mongo=MongoDocumentStoreResource(url=f"mongodb://127.0.0.1:{mongo_port}"),
            kafka=KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}"),
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

        assert platform.run("purchases_clickhouse_raw purchases_mart").success
    files = sorted((platform.settings.data_dir / "purchases").glob("*.json"))
    ids = {json.loads(path.read_text(encoding="utf-8"))["purchase_id"] for path in files}
    assert rows(platform, "SELECT count() FROM purchases_raw") == [(len(files),)]
    assert rows(platform, "SELECT count(), uniqExact(purchase_id) FROM purchases_mart FINAL") == [(len(ids), len(ids))]
