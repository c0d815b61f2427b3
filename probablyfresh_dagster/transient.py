"""Retrying what fails only because a server is away for a moment: refused or reset connections,
no broker available, timeouts. A broker restarting or MongoDB unreachable for a minute must not
fail a step:

- the backends retry connecting with a bounded exponential backoff (1, 2, 4, … s, at most
  `MAX_DELAY_SECONDS` apart, for at most `PROBABLYFRESH_RETRY_SECONDS`, 90 by default): `retrying`;
- a server lost in the middle of the step's work makes Dagster run the step again, at most
  `STEP_RETRIES` times with the same backoff (every step is idempotent: a re-run neither loses
  nor repeats a record): `step_retried_when_transient`, around a resource's connection. A server
  that stayed unreachable for the whole budget fails the step at once: running the step again
  would only wait the budget out again, `STEP_RETRIES` times.

Each retry logs one warning naming the server and the error's type, never its text (which may
quote an address with credentials). Any other error goes through at once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import dagster as dg
from clickhouse_connect.driver.exceptions import OperationalError
from dagster._core.execution.context.compute import current_execution_context
from kafka.errors import KafkaError
from pymongo.errors import AutoReconnect

from probablyfresh_dagster.scrub import error_chain

T = TypeVar("T")

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 15.0
BUDGET_VARIABLE = "PROBABLYFRESH_RETRY_SECONDS"
DEFAULT_BUDGET_SECONDS = 90.0
"""How long a connection is retried by default: past it, the step fails."""
STEP_RETRIES = 3
GAVE_UP = "retried for the whole budget"
"""The note `retrying` adds to the error it gives up on, which no step retry follows."""

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted; also what `naming_the_server` raises
    TimeoutError,
    socket.gaierror,  # a server's host name not resolving yet (a container restarting)
    AutoReconnect,  # pymongo: ServerSelectionTimeoutError, NetworkTimeout, a lost connection
    OperationalError,  # clickhouse-connect: the HTTP connection failed
)


def is_transient(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, says a server is unreachable for now."""
    return any(
        isinstance(cause, TRANSIENT_TYPES) or (isinstance(cause, KafkaError) and cause.retriable) for cause in error_chain(error)
    )


@dataclass(frozen=True)
class Backoff:
    first: float = FIRST_DELAY_SECONDS
    cap: float = MAX_DELAY_SECONDS
    budget: float = field(default_factory=lambda: budget_seconds())

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1, 2, …)."""
        return min(self.cap, self.first * 2 ** (retry - 1))


def budget_seconds() -> float:
    """`PROBABLYFRESH_RETRY_SECONDS`, or 90: how long a step waits for a server to come back."""
    value = os.environ.get(BUDGET_VARIABLE, "").strip()
    try:
        budget = float(value) if value else DEFAULT_BUDGET_SECONDS
    except ValueError:
        raise ValueError(f"{BUDGET_VARIABLE} is not a number of seconds: {value!r}") from None
    if budget < 0:
        raise ValueError(f"{BUDGET_VARIABLE} is negative: {value!r}")
    return budget


_BACKOFF: ContextVar[Backoff | None] = ContextVar("transient_backoff", default=None)


@contextmanager
def backoff(policy: Backoff) -> Iterator[None]:
    """Retry with `policy` in the block (a sensor: no retries, its next tick is the retry)."""
    token = _BACKOFF.set(policy)
    try:
        yield
    finally:
        _BACKOFF.reset(token)


def retrying(server: str, attempt: Callable[[], T]) -> T:
    """`attempt()`, again after a transient error while the budget lasts; `server` names what it
    reaches (no credentials) in the warning logged before each retry."""
    policy = _BACKOFF.get() or Backoff()
    started = time.monotonic()
    retry = 0
    while True:
        try:
            return attempt()
        except Exception as error:
            retry += 1
            wait = policy.delay(retry)
            if not is_transient(error):
                raise
            if time.monotonic() - started + wait > policy.budget:
                error.add_note(f"{server}: {GAVE_UP} ({policy.budget:g} s, {retry} attempts)")
                raise
            dg.get_dagster_logger().warning(f"{server} is not reachable ({type(error).__name__}): retry {retry} in {wait:g} s")
            time.sleep(wait)


SERVERS = {"pymongo": "MongoDB", "kafka": "Kafka", "clickhouse_connect": "ClickHouse"}
"""A server named by the library of its client, for the warning of a step retry."""


@contextmanager
def step_retried_when_transient() -> Iterator[None]:
    """A transient error leaving the block inside a Dagster step asks Dagster to run the step again
    (`RetryRequested`); elsewhere, or for any other error, it goes through as it is."""
    try:
        yield
    except dg.RetryRequested:  # an inner resource asked already
        raise
    except Exception as error:
        context = current_execution_context.get()
        if context is None or not is_transient(error) or _gave_up(error):
            raise
        wait = (_BACKOFF.get() or Backoff()).delay(context.op_execution_context.retry_number + 1)
        dg.get_dagster_logger().warning(
            f"{_server(error)} went away during the step ({type(error).__name__}): the step runs again in {wait:g} s"
        )
        raise dg.RetryRequested(max_retries=STEP_RETRIES, seconds_to_wait=wait) from error


def _gave_up(error: BaseException) -> bool:
    return any(GAVE_UP in note for cause in error_chain(error) for note in getattr(cause, "__notes__", ()))


def _server(error: BaseException) -> str:
    for cause in error_chain(error):
        if server := SERVERS.get(type(cause).__module__.split(".")[0]):
            return server
    return "A server"
