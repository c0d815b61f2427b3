"""A clear-text phone or email that reaches the log anyway (another producer's message, or one an
older version published) is set aside by RAW, named by the RAW check, and removed by `make purge-pii`,
on the embedded log and on real Kafka: nothing lost, nothing published twice, the entity never stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import orjson
import pytest
from clickhouse_connect.driver.client import Client
from cryptography.fernet import Fernet

from probablyfresh_dagster import run
from probablyfresh_dagster.assets.kafka import Protector
from probablyfresh_dagster.checks.pii import raw_pii
from probablyfresh_dagster.documents import DocumentStore, PendingDocument, SourceDocument
from probablyfresh_dagster.entities import CUSTOMERS, Entity
from probablyfresh_dagster.events import EventLog, OutgoingMessage
from probablyfresh_dagster.outbox import publish_pending
from probablyfresh_dagster.pii import PiiFields
from probablyfresh_dagster.purge_pii import PurgeRefused, purge
from probablyfresh_dagster.raw_load import load_raw
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import SqliteDocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource, KafkaEventLogResource, SqliteEventLogResource
from probablyfresh_dagster.shards import WHOLE, Shard
from probablyfresh_dagster.sql import run_script

from .platforms import check_results, local_platform, rows
from .support import use_local_state

CLEAR_PHONE = "8 (912) 345-67-89"


@dataclass
class Chain:
    """An entity of its own on a document store, a log and chDB: the outbox and the RAW loader as
    the assets run them."""

    entity: Entity
    store: DocumentStore
    log: EventLog
    client: Client
    cipher: Fernet

    def land(self, *customers: dict) -> None:
        self.store.upsert(self.entity.name, [SourceDocument(c["customer_id"], c["customer_id"], c) for c in customers])

    def publish(self, protect: bool = True, shard: Shard = WHOLE) -> int:
        """Publish what is pending in `shard` as the Kafka asset does or, without `protect`, as an
        older version without the landing's and the Kafka stage's rules would have: personal fields in clear."""
        encode = Protector(PiiFields.parse(self.entity.pii), self.cipher) if protect else as_stored
        return publish_pending(self.entity, self.store, self.log, encode, batch_size=7, shard=shard).published

    def raw_offsets(self) -> list[tuple[int, int]]:
        rows = self.client.query(f"SELECT partition, offset FROM {self.entity.raw_table} ORDER BY ALL").result_rows
        return [(partition, offset) for partition, offset in rows]

    def raw_keys(self) -> Counter:
        return Counter(key for (key,) in self.client.query(f"SELECT key FROM {self.entity.raw_table}").result_rows)


def as_stored(document: PendingDocument) -> bytes:
    return orjson.dumps(document.body)


def customer(number: int, **extra) -> dict:
    return {"customer_id": f"cus-{number}", "phone": "+7 999 000 11 22", "email": "A@Example.com", **extra}


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.servers)])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    entity = replace(CUSTOMERS, name=f"purge_{uuid.uuid4().hex[:8]}")
    kafka: EventLogResource = SqliteEventLogResource(path=str(tmp_path / "kafka.sqlite3"), partitions=2)
    if request.param == "kafka":
        kafka = KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{request.getfixturevalue('kafka_port')}", partitions=2)
    with (
        SqliteDocumentStoreResource(path=str(tmp_path / "mongo.sqlite3")).open() as store,
        kafka.open() as log,
        ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client,
    ):
        log.ensure_topic(entity.name)
        yield Chain(entity, store, log, client, Fernet(Fernet.generate_key()))


def test_set_aside_named_purged_and_nothing_lost_or_repeated(chain: Chain):
    chain.land(*(customer(n) for n in range(20)))
    assert chain.publish() == 20
    chain.land(customer(100))
    assert chain.publish(protect=False) == 1  # an older version's leak: our headers, a clear phone
    foreign = orjson.dumps({"customer_id": "cus-200", "note": f"звонить {CLEAR_PHONE}"})
    chain.log.publish(chain.entity.name, [OutgoingMessage("cus-200", foreign)])  # another producer's
    chain.land(*(customer(n) for n in range(20, 30)))
    assert chain.publish() == 10
    ends = chain.log.end_offsets(chain.entity.name)

    assert load_raw(chain.client, chain.log, chain.entity) == 30
    assert set(chain.raw_keys()) == {f"cus-{n}" for n in range(30)}
    check = raw_pii(chain.entity, chain.client, chain.log)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description is not None
    assert "2 messages set aside" in check.description and "make purge-pii" in check.description
    # Not "912" alone: the entity's random name may hold it.
    quoted = ("(912)", "345-67-89", "9123456789")
    assert not any(part in check.description for part in quoted) and "phone number" in check.description
    assert "note" in check.description and "phone" in check.description

    done = purge(chain.entity, chain.client, chain.log, chain.store, cluster=None)
    assert (done.raw_rows_moved, done.republished) == (0, 1)
    assert chain.log.end_offsets(chain.entity.name) == ends
    assert all(chain.log.beginning_offsets(chain.entity.name)[p] == start for p, start in done.log_starts.items())
    assert raw_pii(chain.entity, chain.client, chain.log).passed

    assert chain.publish() == 1  # the older version's document, now as the rules say: encrypted
    assert load_raw(chain.client, chain.log, chain.entity) == 1
    keys = chain.raw_keys()
    assert set(keys) == {f"cus-{n}" for n in (*range(30), 100)} and set(keys.values()) == {1}
    assert len(set(chain.raw_offsets())) == len(chain.raw_offsets()) == 31
    ((payload,),) = chain.client.query(f"SELECT payload FROM {chain.entity.raw_table} WHERE key = 'cus-100'").result_rows
    assert chain.cipher.decrypt(orjson.loads(payload)["phone"].encode()) == b"+79990001122"
    assert purge(chain.entity, chain.client, chain.log, chain.store, cluster=None).log_starts == {}  # nothing left to do


def test_a_purge_that_would_lose_a_record_is_refused_and_says_what_to_run(chain: Chain):
    chain.land(*(customer(n) for n in range(5)))
    chain.publish()
    chain.log.publish(chain.entity.name, [OutgoingMessage("cus-9", orjson.dumps({"customer_id": "cus-9", "x": "a@b.ru"}))])
    load_raw(chain.client, chain.log, chain.entity)
    with pytest.raises(PurgeRefused, match=f"{chain.entity.name}_kafka_topic has only reached offset"):
        purge(chain.entity, chain.client, chain.log, chain.store, cluster=None)  # the outbox has not seen past the leak yet
    chain.publish()  # reconciles the log up to its end: the purge may go
    assert purge(chain.entity, chain.client, chain.log, chain.store, cluster=None).log_starts


def test_with_shards_a_purge_waits_for_every_shards_outbox(chain: Chain):
    first, second = Shard.all(2)
    chain.land(*(customer(n) for n in range(20)))
    assert chain.publish(shard=first) and chain.publish(shard=second)
    chain.log.publish(chain.entity.name, [OutgoingMessage("cus-9", orjson.dumps({"customer_id": "cus-9", "x": "a@b.ru"}))])
    load_raw(chain.client, chain.log, chain.entity)
    chain.publish(shard=first)  # one shard's outbox past the leak, not the other's
    with pytest.raises(PurgeRefused, match=f"{chain.entity.name}_kafka_topic has only reached offset"):
        purge(chain.entity, chain.client, chain.log, chain.store, cluster=None, shards=2)
    chain.publish(shard=second)
    assert purge(chain.entity, chain.client, chain.log, chain.store, cluster=None, shards=2).log_starts


def test_rows_an_older_version_loaded_into_raw_are_moved_out(chain: Chain):
    chain.land(*(customer(n) for n in range(5)))
    chain.publish(protect=False)
    run_script(chain.client, "raw", table=chain.entity.raw_table)
    chain.client.command(
        f"INSERT INTO {chain.entity.raw_table} (topic, partition, offset, key, payload) "
        "SELECT topic, partition, offset, key, payload FROM (SELECT '' AS topic, 0 AS partition, 0 AS offset, "
        "'cus-0' AS key, {payload:String} AS payload)",
        parameters={"payload": orjson.dumps(customer(0)).decode()},
    )
    check = raw_pii(chain.entity, chain.client, chain.log)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR  # blocks the MART
    load_raw(chain.client, chain.log, chain.entity)
    done = purge(chain.entity, chain.client, chain.log, chain.store, cluster=None)
    assert done.raw_rows_moved == 1 and done.republished == 5
    assert chain.raw_offsets() == [] and raw_pii(chain.entity, chain.client, chain.log).passed
    chain.publish()
    assert load_raw(chain.client, chain.log, chain.entity) == 5 and set(chain.raw_keys().values()) == {1}


@pytest.mark.slow
def test_make_purge_pii_unsticks_the_pipeline(tmp_path, monkeypatch, capsys):
    """The whole graph with another producer's leak in the customers topic: the MART still loads
    every good record, the RAW check names the leak, `make purge-pii` removes it."""
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        with platform.resource("kafka").open() as log:
            log.publish("customers", [OutgoingMessage("cus-9999", orjson.dumps({"customer_id": "cus-9999", "email": "x@y.ru"}))])
        result = platform.run("customers_kafka_topic customers_clickhouse_raw customers_mart")
        assert result.success  # a WARN of a blocking check stops nothing
        checks = check_results(result)
        assert not checks["customers_clickhouse_raw:no_clear_text_pii"].passed
        assert checks["customers_mart:counts_reconcile"].passed
        assert rows(platform, "SELECT count() FROM customers_mart FINAL")[0][0] == 45

        use_local_state(tmp_path, monkeypatch)
        with pytest.raises(SystemExit):
            run.main(["--purge-pii", "nobody"])
        assert "no such entity nobody" in capsys.readouterr().err
        assert run.main(["--purge-pii", "customers"]) == 0
        assert "customers: 0 RAW rows moved" in capsys.readouterr().out
        assert check_results(platform.check())["customers_clickhouse_raw:no_clear_text_pii"].passed


KILLED_LOADER = """
import sys
from dataclasses import replace
from pathlib import Path
from probablyfresh_dagster.entities import CUSTOMERS
from probablyfresh_dagster.raw_load import load_raw
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import SqliteEventLogResource
from probablyfresh_dagster_tests.crashing_run import Point, install

root, target, after = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "after"
install(Point(target, after=after), root / "paused")
with SqliteEventLogResource(path=str(root / "kafka.sqlite3")).open() as log, ClickHouseResource(
    dsn=f"chdb:///{root / 'clickhouse'}"
).client() as client:
    load_raw(client, log, replace(CUSTOMERS, name="customers"), batch_size=4)
"""


@pytest.mark.parametrize(
    "target, after",
    [
        ("probablyfresh_dagster.raw_load:record_set_aside", True),  # recorded, the clean rows not inserted
        ("clickhouse_connect.driver._backendclient:SyncBackendClient.raw_insert", True),  # inserted, not committed
    ],
)
def test_a_loader_killed_around_a_set_aside_batch_records_it_once_and_loads_the_rest_once(tmp_path, target, after):
    with SqliteEventLogResource(path=str(tmp_path / "kafka.sqlite3")).open() as log:  # one partition
        log.ensure_topic("customers")
        messages = [OutgoingMessage(f"cus-{n}", orjson.dumps(customer(n, phone="token", email="token"))) for n in range(10)]
        # In the first batch of four, with clean messages after it: below where RAW resumes once they are in.
        messages[1] = OutgoingMessage("cus-1", orjson.dumps({"customer_id": "cus-1", "note": CLEAR_PHONE}))
        log.publish("customers", messages)
    loader = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOADER, str(tmp_path), target, "after" if after else "before"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "paused").exists() and loader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "paused").exists(), loader.communicate()[0][-3000:]
    os.killpg(loader.pid, signal.SIGKILL)
    loader.wait()

    with (
        SqliteEventLogResource(path=str(tmp_path / "kafka.sqlite3")).open() as log,
        ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client,
    ):
        load_raw(client, log, CUSTOMERS)
        keys = Counter(key for (key,) in client.query("SELECT key FROM customers_raw").result_rows)
        set_aside = client.query("SELECT key, field FROM raw_set_aside FINAL").result_rows
    assert set(keys) == {f"cus-{n}" for n in range(10)} - {"cus-1"} and set(keys.values()) == {1}
    assert set_aside == [("cus-1", "note")]
