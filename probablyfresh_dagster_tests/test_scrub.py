"""No secret in what a resource raises: each error's str(), repr(), traceback text, chained causes
and the record Dagster stores of it are searched for the secret, on real failures (a real
`http.client` refusal, servers that are not listening on 127.0.0.1)."""

from __future__ import annotations

import http.client
import logging
import urllib.request
from typing import Any
from urllib.parse import quote_plus

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource
from probablyfresh_dagster.resources.fernet import FernetResource
from probablyfresh_dagster.scrub import MASK, ScrubbedError, secrets_kept_out

from .secrets_search import IN_URL, PASSWORD, leaks, needles, texts
from .support import free_port

ODD_SECRET = "Pf7Mike Pf7November\nPf7Oscar\x07Pf7Papa\u00e9"


def password_leaks(error: BaseException, logged: str) -> list[str]:
    """Where `PASSWORD`, as written or percent-encoded, shows in the error or the log records."""
    return [
        needle
        for written in (PASSWORD, quote_plus(PASSWORD))
        for needle in needles(written)
        if needle in logged or any(needle in text for text in texts(error))
    ]


def test_an_invalid_url_quoting_a_token_leaves_masked_and_still_an_invalid_url():
    with pytest.raises(http.client.InvalidURL) as caught:
        with secrets_kept_out(ODD_SECRET):
            urllib.request.urlopen(f"http://127.0.0.1:{free_port()}/bot{ODD_SECRET}/sendMessage", timeout=5)
    error = caught.value
    assert isinstance(error, ScrubbedError) and error.kind == "http.client.InvalidURL"
    assert str(error).startswith(f"URL can't contain control characters. '/bot{MASK}/sendMessage'")
    assert leaks(error, ODD_SECRET) == []


def test_a_cause_showing_a_password_is_scrubbed_along_with_the_error():
    """The ConnectionError's own text is clean; its cause's repr holds the password."""
    with pytest.raises(ConnectionError) as caught:
        with secrets_kept_out(PASSWORD):
            try:
                (PASSWORD + "\u00e9").encode("ascii")
            except UnicodeEncodeError as cause:
                raise ConnectionError("MongoDB at mongo:27017 is not reachable") from cause
    error = caught.value
    assert str(error) == "MongoDB at mongo:27017 is not reachable"
    assert error.__cause__.kind == "UnicodeEncodeError"
    assert leaks(error, PASSWORD) == []


def test_an_error_without_a_secret_leaves_untouched():
    raised = KeyError("purchases")
    with pytest.raises(KeyError) as caught:
        with secrets_kept_out(PASSWORD, ODD_SECRET, None):
            raise raised
    assert caught.value is raised


APART = {"username": "probablyfresh", "password": PASSWORD}


def mongodb(settings: dict[str, Any]) -> None:
    with MongoDocumentStoreResource(**settings).open():
        pass


def clickhouse(settings: dict[str, Any]) -> None:
    with ClickHouseResource(**settings).client():
        pass


def kafka(settings: dict[str, Any]) -> None:
    # Nothing listens: a short wait fails the same way as the default 10 s.
    with KafkaEventLogResource(**settings, timeout_ms=2000).open() as log:
        log.ensure_topic("purchases")


UNREACHABLE = {
    "mongodb-url": (mongodb, {"url": f"mongodb://{IN_URL}:{{port}}/?authSource=admin"}),
    "mongodb-apart": (mongodb, {"url": "mongodb://127.0.0.1:{port}/", **APART}),
    "clickhouse-dsn": (clickhouse, {"dsn": f"http://{IN_URL}:{{port}}/default"}),
    "clickhouse-apart": (clickhouse, {"dsn": "http://127.0.0.1:{port}/default", **APART}),
    "kafka-sasl": (kafka, {"bootstrap_servers": "127.0.0.1:{port}", **APART}),
}
"""How each server's resource is used, and its settings, with the password in the URL
(percent-encoded) or apart from it (Kafka's SASL password is only apart)."""


@pytest.mark.parametrize("used, settings", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_an_unreachable_server_names_no_password(used, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings = {name: value.format(port=free_port()) for name, value in settings.items()}
    with pytest.raises(ConnectionError, match="127.0.0.1") as caught:
        used(settings)
    assert password_leaks(caught.value, caplog.text) == []


def test_a_kafka_address_with_a_password_is_refused_before_anything_reaches_the_network(caplog):
    """kafka-python would look the whole `user:password@host` up as a host name, and log it."""
    caplog.set_level(logging.DEBUG)
    address = f"{IN_URL}:{free_port()}"
    refusal = r"^The Kafka address \(KAFKA_BOOTSTRAP_SERVERS\) holds a user:password@"
    with pytest.raises(ValueError, match=refusal) as caught:
        with KafkaEventLogResource(bootstrap_servers=address).open():
            pass
    assert password_leaks(caught.value, caplog.text) == []


@pytest.mark.parametrize("key", [ODD_SECRET, Fernet.generate_key().decode()[:-2] + "\u00e9\n"], ids=["odd-secret", "cut-short"])
def test_a_malformed_fernet_key_is_named_never_shown(key):
    with pytest.raises(ValueError, match="^FERNET_KEY is not a valid Fernet key") as caught:
        FernetResource(key=key).cipher()
    assert leaks(caught.value, key) == []
