import multiprocessing
import stat
import time

import dagster as dg
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from cryptography.fernet import Fernet
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.producer.transaction_manager import TransactionalRequestResult

from probablyfresh_dagster.profiles import PROFILE_BACKENDS, profile_resources
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource
from probablyfresh_dagster.resources.fernet import FernetResource
from probablyfresh_dagster.resources.kafka_events import KafkaEventLog, end_transaction
from probablyfresh_dagster.settings import PROFILES, Settings


def test_local_dev_key_is_created_once_owner_only_and_reused(tmp_path):
    resource = FernetResource(dev_key_path=str(tmp_path / "state" / "fernet.key"))
    token = resource.cipher().encrypt(b"+79123456789")
    key_file = tmp_path / "state" / "fernet.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert FernetResource(dev_key_path=str(key_file)).cipher().decrypt(token) == b"+79123456789"


def test_configured_key_wins_and_a_missing_or_malformed_key_is_a_clear_error(tmp_path):
    key = Fernet.generate_key().decode()
    token = FernetResource(key=key, dev_key_path=str(tmp_path / "k")).cipher().encrypt(b"x")
    assert Fernet(key).decrypt(token) == b"x"
    assert not (tmp_path / "k").exists()
    with pytest.raises(ValueError, match="FERNET_KEY is not set"):
        FernetResource().cipher()
    secret = "not-a-key-but-a-secret"
    with pytest.raises(ValueError, match="not a valid Fernet key") as error:
        FernetResource(key=secret).cipher()
    assert secret not in str(error.value) and error.value.__cause__ is None


def test_docker_profile_reads_every_backend_from_the_environment(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://mongo:27017")
    monkeypatch.setenv("MONGO_USER", "probablyfresh")
    monkeypatch.setenv("MONGO_PASSWORD", "p@ss/w:rd")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("CLICKHOUSE_DSN", "http://clickhouse:8123/default")
    monkeypatch.delenv("CLICKHOUSE_USER", raising=False)
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "pw")
    monkeypatch.setenv("FERNET_KEY", Fernet.generate_key().decode())
    resources = profile_resources(Settings(profile="docker"))
    with dg.build_resources(resources) as built:
        assert (built.mongo.url, built.mongo.username, built.mongo.password) == (
            "mongodb://mongo:27017",
            "probablyfresh",
            "p@ss/w:rd",
        )
        assert (built.clickhouse.username, built.clickhouse.password) == (None, "pw")
        assert built.kafka.bootstrap_servers == "kafka:9092"
        assert built.clickhouse.dsn.startswith("http://")
        assert built.fernet.dev_key_path is None
    monkeypatch.delenv("FERNET_KEY")
    with pytest.raises(Exception, match="FERNET_KEY"):
        with dg.build_resources(profile_resources(Settings(profile="docker"))):
            pass


@pytest.mark.parametrize(
    ("replication_factor", "min_insync_replicas", "expected"), [(None, None, (1, 1)), ("", "", (1, 1)), ("3", "2", (3, 2))]
)
def test_the_docker_profile_replicates_topics_as_the_environment_says(
    monkeypatch, replication_factor, min_insync_replicas, expected
):
    """Unset or empty (as .env.example leaves them), one replica as on the one-node broker; the
    kafka-cluster profile's 3 and 2 reach the resource that creates the topics."""
    for name, value in (("KAFKA_REPLICATION_FACTOR", replication_factor), ("KAFKA_MIN_INSYNC_REPLICAS", min_insync_replicas)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    kafka = PROFILE_BACKENDS["docker"](Settings(profile="docker"))["kafka"]
    assert isinstance(kafka, KafkaEventLogResource)
    assert (kafka.replication_factor, kafka.min_insync_replicas) == expected


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_replication_setting_that_is_not_a_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", value)
    with pytest.raises(ValueError, match="KAFKA_REPLICATION_FACTOR"):
        PROFILE_BACKENDS["docker"](Settings(profile="docker"))


def test_more_insync_replicas_than_replicas_is_refused_before_any_connection():
    with pytest.raises(ValueError, match="min.insync.replicas 3"):
        KafkaEventLog("127.0.0.1:1", 3, replication_factor=2, min_insync_replicas=3)


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "abort"])
def test_a_transaction_end_never_answered_times_out_and_one_answered_returns(monkeypatch, commit):
    """`end_transaction` reaches kafka-python's private `_transaction_manager` and `_sender`: on a
    real producer (no broker needed, its API version given), a version of kafka-python that moved
    them fails here."""
    producer = KafkaProducer(bootstrap_servers=["127.0.0.1:1"], transactional_id="t", api_version=(3, 9))
    begin = "begin_commit" if commit else "begin_abort"
    try:
        monkeypatch.setattr(producer._transaction_manager, begin, TransactionalRequestResult)
        started = time.monotonic()
        with pytest.raises(KafkaTimeoutError, match="within 200 ms"):
            end_transaction(producer, commit=commit, timeout_ms=200)
        assert 0.2 <= time.monotonic() - started < 5

        answered = TransactionalRequestResult()
        answered.done()
        monkeypatch.setattr(producer._transaction_manager, begin, lambda: answered)
        end_transaction(producer, commit=commit, timeout_ms=200)
    finally:
        producer.close(timeout=1)


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("PROBABLYFRESH_PROFILE", "prod")
    with pytest.raises(ValueError, match="PROBABLYFRESH_PROFILE"):
        Settings.from_env()


def test_every_profile_the_settings_accept_has_its_backends():
    assert set(PROFILE_BACKENDS) == set(PROFILES)


def _hold_chdb(dsn: str, seconds: float, ready) -> None:
    with ClickHouseResource(dsn=dsn).client() as client:
        client.command("CREATE TABLE IF NOT EXISTS held (x UInt8) ENGINE = Memory")
        ready.set()
        time.sleep(seconds)


def test_a_second_process_waits_for_the_chdb_folder_instead_of_failing(tmp_path):
    dsn = f"chdb:///{tmp_path / 'clickhouse'}"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_chdb, args=(dsn, 2.0, ready))
    holder.start()
    assert ready.wait(30)
    started = time.monotonic()
    with ClickHouseResource(dsn=dsn).client() as client:
        assert client.query("SELECT count() FROM held").first_row == (0,)
    assert time.monotonic() - started > 0.5  # it waited for the holder to let go
    holder.join(10)
    assert holder.exitcode == 0


def test_a_chdb_query_past_the_memory_cap_fails_instead_of_swelling_the_process(tmp_path):
    """chDB shares the process with Dagster: a query needing more than `max_memory_usage` is
    refused (MEMORY_LIMIT_EXCEEDED), and the client goes on working."""
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client:
        with pytest.raises(DatabaseError, match="MEMORY_LIMIT_EXCEEDED"):
            client.query("SELECT groupArray(repeat('x', 1000)) FROM numbers(1000000)")  # about 1 GiB
        assert client.query("SELECT count() FROM numbers(10)").first_row == (10,)
