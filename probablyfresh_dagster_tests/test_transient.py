"""Transient backend errors are retried with a bounded backoff, each retry logged once without
secrets; anything else fails at once. On closed ports of this machine: no server needed."""

import socket

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from kafka.errors import KafkaConfigurationError, KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from pymongo.errors import NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.mongo_documents import MongoDocumentStore
from probablyfresh_dagster.transient import GAVE_UP, Backoff, backoff, budget_seconds, is_transient, retrying

from .platforms import make_platform
from .server_restarts import listening
from .support import free_port

QUICK = Backoff(first=0.05, cap=0.1, budget=0.6)


def _chained(cause: BaseException) -> RuntimeError:
    try:
        raise cause
    except BaseException as error:
        try:
            raise RuntimeError("the library's own words") from error
        except RuntimeError as wrapped:
            return wrapped


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
        NetworkTimeout("timed out"),
        KafkaConnectionError("Connection refused"),
        KafkaTimeoutError("Failed to update metadata"),
        NodeNotReadyError(),
        OperationalError("Error HTTPConnectionPool: Max retries exceeded"),
        _chained(ConnectionResetError(104, "Connection reset by peer")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_server_away_for_now_is_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bad record"),
        OperationFailure("Authentication failed", code=18),
        KafkaConfigurationError("unknown setting"),
        DatabaseError("Code: 60. Table default.nothing does not exist"),
        PermissionError(13, "Permission denied"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_anything_else_is_not(error):
    assert not is_transient(error)


def test_a_refused_connection_is_retried_until_the_server_answers():
    port, calls = free_port(), []
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def connect() -> str:
        calls.append(port)
        if len(calls) == 3:  # the server is back
            server.bind(("127.0.0.1", port))
            server.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return "answered"

    with server, backoff(QUICK), listening("is not reachable") as heard:
        assert retrying("the test server", connect) == "answered"
    assert heard.lines == [
        "the test server is not reachable (ConnectionRefusedError): retry 1 in 0.05 s",
        "the test server is not reachable (ConnectionRefusedError): retry 2 in 0.1 s",
    ]
    assert len(calls) == 3


def test_an_error_that_is_not_transient_fails_at_once():
    calls = []

    def bad() -> None:
        calls.append(1)
        raise ValueError("not a server problem")

    with backoff(QUICK), listening("is not reachable") as heard, pytest.raises(ValueError):
        retrying("the test server", bad)
    assert calls == [1]
    assert heard.lines == []


def test_mongodb_away_is_retried_within_the_budget_then_named_without_its_password():
    port = free_port()
    with backoff(QUICK), listening("is not reachable") as heard, pytest.raises(ConnectionError) as failed:
        MongoDocumentStore(f"mongodb://reader:s3cret-pw@127.0.0.1:{port}", "probablyfresh", timeout_ms=100)
    assert (
        heard.lines[0]
        == f"MongoDB at mongodb://***@127.0.0.1:{port} is not reachable (ServerSelectionTimeoutError): retry 1 in 0.05 s"
    )
    assert f"127.0.0.1:{port}" in str(failed.value)
    assert "s3cret-pw" not in str(failed.value) + "".join(heard.lines)


def test_a_clickhouse_server_away_is_retried_then_named_without_its_password():
    port = free_port()
    resource = ClickHouseResource(dsn=f"http://writer:s3cret-pw@127.0.0.1:{port}")
    with backoff(QUICK), listening("is not reachable") as heard, pytest.raises(ConnectionError) as failed:
        with resource.client():
            pass
    assert heard.lines[0] == f"ClickHouse at 127.0.0.1:{port} is not reachable (OperationalError): retry 1 in 0.05 s"
    assert str(failed.value) == f"ClickHouse at 127.0.0.1:{port} is not reachable"
    assert "s3cret-pw" not in str(failed.value) + "".join(heard.lines)


def test_the_budget_comes_from_the_environment_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("PROBABLYFRESH_RETRY_SECONDS", "2.5")
    assert budget_seconds() == Backoff().budget == 2.5
    monkeypatch.delenv("PROBABLYFRESH_RETRY_SECONDS")
    assert budget_seconds() == 90
    monkeypatch.setenv("PROBABLYFRESH_RETRY_SECONDS", "soon")
    with pytest.raises(ValueError, match="PROBABLYFRESH_RETRY_SECONDS is not a number of seconds"):
        budget_seconds()


def test_a_server_away_for_the_whole_budget_fails_its_step_without_step_retries(tmp_path, monkeypatch):
    """A step retry would only wait the budget out again, three times: the step fails once, with
    the note saying why, and Dagster does not put it up for retry."""
    monkeypatch.delenv("FERNET_KEY", raising=False)
    monkeypatch.setenv("PROBABLYFRESH_RETRY_SECONDS", "0.5")
    port = free_port()
    platform = make_platform(tmp_path, mongo=MongoDocumentStoreResource(url=f"mongodb://127.0.0.1:{port}"))
    generate(GeneratorConfig(purchases=1), platform.settings.data_dir)
    result = platform.run("purchases_mongo_collection")
    assert not result.success
    assert [event.event_type_value for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"] == []
    failure = next(event for event in result.all_events if event.is_step_failure).step_failure_data.error
    assert failure is not None
    assert GAVE_UP in str(failure.to_string())
