"""The event log's resources: the embedded SQLite log, or Kafka through kafka-python."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager

import dagster as dg

from probablyfresh_dagster.events import EventLog
from probablyfresh_dagster.resources.kafka_events import KafkaEventLog
from probablyfresh_dagster.resources.sqlite_events import SqliteEventLog
from probablyfresh_dagster.scrub import secrets_kept_out, url_password
from probablyfresh_dagster.settings import resolved
from probablyfresh_dagster.transient import step_retried_when_transient

LOGGERS_OF_SETTINGS = ("kafka.admin.client",)
"""kafka-python's loggers that log a client's settings, SASL password included (at DEBUG)."""


class EventLogResource(dg.ConfigurableResource, ABC):
    """What the assets take as `kafka`: whichever backend the profile wires."""

    partitions: int = 1

    @abstractmethod
    def open(self) -> AbstractContextManager[EventLog]:
        """The log, closed on leaving."""


class SqliteEventLogResource(EventLogResource):
    path: str

    @contextmanager
    def open(self) -> Iterator[EventLog]:
        with closing(SqliteEventLog(resolved(self.path), self.partitions)) as log:
            yield log


class KafkaEventLogResource(EventLogResource):
    """`bootstrap_servers` is `host:9092[,host:9092]`. With `username` (and `password`),
    kafka-python authenticates with SASL/SCRAM-SHA-512, as the stack's host listener requires;
    without, it connects as the stack's own services do. Whatever the log raises leaves scrubbed
    of the password (see `scrub`); an address with a password in it is refused, never shown."""

    bootstrap_servers: str
    replication_factor: int = 1
    """Of the topics it creates, with their `min_insync_replicas` (a cluster's: 3 and 2)."""
    min_insync_replicas: int = 1
    username: str | None = None
    password: str | None = None
    timeout_ms: int = 10_000
    """How long a request or a bootstrap waits for the brokers, and a blocking producer call
    three times as long (see `kafka_events.PRODUCER_WAIT_TIMEOUTS`)."""

    @contextmanager
    def open(self) -> Iterator[EventLog]:
        with step_retried_when_transient(), secrets_kept_out(self.password, loggers=LOGGERS_OF_SETTINGS):
            if url_password(self.bootstrap_servers):
                # kafka-python would take `user:password@host` for a host name: a DNS query and
                # log lines with the password in them.
                raise ValueError(
                    "The Kafka address (KAFKA_BOOTSTRAP_SERVERS) holds a user:password@ part: give "
                    "host:port only, the user in KAFKA_USER and KAFKA_PASSWORD; the value is not shown"
                )
            log = KafkaEventLog(
                self.bootstrap_servers,
                self.partitions,
                replication_factor=self.replication_factor,
                min_insync_replicas=self.min_insync_replicas,
                timeout_ms=self.timeout_ms,
                username=self.username,
                password=self.password,
            )
            with closing(log):
                yield log
