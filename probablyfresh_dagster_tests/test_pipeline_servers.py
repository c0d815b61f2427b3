"""The whole asset graph on real servers: MongoDB (FerretDB) and Apache Kafka started on loopback,
ClickHouse on chDB, then an independent Kafka client (kcat) reading what the pipeline published."""

from __future__ import annotations

import json
import subprocess
import uuid

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.pii import normalize_email, normalize_phone
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource
from probablyfresh_dagster.resources.fernet import FernetResource

from .platforms import Platform, make_platform
from .servers import require_tool
from .whole_graph import assert_whole_graph_passed

pytestmark = [pytest.mark.servers, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, ferretdb_port: int, kafka_port: int
) -> tuple[Platform, dg.ExecuteInProcessResult, Fernet]:
    """One default-volume run of the pipeline on the servers (they are shared by the session, so
    it runs once: the entities' topics exist only once in the broker)."""
    key = Fernet.generate_key()
    platform = make_platform(
        tmp_path_factory.mktemp("served"),
        mongo=MongoDocumentStoreResource(
            url=f"mongodb://127.0.0.1:{ferretdb_port}", database=f"probablyfresh_{uuid.uuid4().hex[:8]}"
        ),
        kafka=KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{kafka_port}", partitions=3),
        fernet=FernetResource(key=key.decode()),
    )
    return platform, platform.run(), Fernet(key)


def test_whole_graph_on_real_servers_passes_every_check_with_the_expected_contents(served) -> None:
    platform, result, _ = served
    assert_whole_graph_passed(platform, result)


def test_kcat_reads_keyed_customers_whose_phone_and_email_are_ciphertext(served, kafka_port: int) -> None:
    platform, result, cipher = served
    assert result.success
    kcat = require_tool("kcat", "reading the topic with an independent client")
    read = subprocess.run(
        [kcat, "-b", f"127.0.0.1:{kafka_port}", "-C", "-t", "customers", "-o", "beginning", "-e", "-q", "-f", "%k\\t%s\\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    messages = [line.split("\t", 1) for line in read.stdout.splitlines()]
    assert len(messages) == 45
    for key, payload in messages:
        customer = json.loads(payload)
        source = json.loads((platform.settings.data_dir / "customers" / f"{key}.json").read_text(encoding="utf-8"))
        assert key.startswith("cus-") and customer["customer_id"] == key
        for field, normalize in (("phone", normalize_phone), ("email", normalize_email)):
            assert source[field] not in payload and normalize(source[field]) not in payload
            assert cipher.decrypt(customer[field].encode()).decode() == normalize(source[field])
