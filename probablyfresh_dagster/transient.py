"""Retrying what fails only because a server is away for a moment: refused or reset connections,
no broker available, timeouts. A broker restarting or MongoDB unreachable for a minute must not
fail a step: the backends retry connecting with a bounded exponential backoff (1, 2, 4, … s, at
most `MAX_DELAY_SECONDS` apart, for at most `BUDGET_SECONDS`), logging one warning per retry that
names the server and the error's type, never its text (which may quote an address with
credentials). Any other error, or a transient one past the budget, goes through at once.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg
from clickhouse_connect.driver.exceptions import OperationalError
from kafka.errors import KafkaError
from pymongo.errors import AutoReconnect

from probablyfresh_dagster.scrub import error_chain

T = TypeVar("T")

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 15.0
BUDGET_SECONDS = 90.0
"""How long a step keeps trying a server: past it, the step fails and the sensor's next request
(or Dagster's run retry) takes over."""

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
    budget: float = BUDGET_SECONDS

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1, 2, …)."""
        return min(self.cap, self.first * 2 ** (retry - 1))


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
            if not is_transient(error) or time.monotonic() - started + wait > policy.budget:
                raise
            dg.get_dagster_logger().warning(f"{server} is not reachable ({type(error).__name__}): retry {retry} in {wait:g} s")
            time.sleep(wait)
