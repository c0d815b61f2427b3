"""A Dagster logger for `make run`: one line when a step waits for a concurrency pool, naming who holds it.

Dagster reports a step waiting for a pool slot only as a DEBUG engine event ("Step blocked by
limit for pool clickhouse", metadata "pool"), below `make run`'s WARNING console, and the wait
itself prints nothing. This logger turns that event into

    waiting for pool clickhouse: held by run 1a2b3c4d (step purchases_mart)

printed once per pool and set of holders (Dagster repeats the event while the step waits).
"""

from __future__ import annotations

import logging
import sys

import dagster as dg


def pool_wait_logger(instance: dg.DagsterInstance) -> dg.LoggerDefinition:
    """The logger, reading the holders of a pool from `instance` (the one the run uses)."""

    def create(_: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("probablyfresh.pool_waits", level=logging.DEBUG)
        logger.addHandler(PoolWaitHandler(instance))
        return logger

    return dg.LoggerDefinition(create, description="Prints which run holds a pool a step waits for.")


class PoolWaitHandler(logging.Handler):
    def __init__(self, instance: dg.DagsterInstance) -> None:
        super().__init__(level=logging.DEBUG)
        self._instance = instance
        self._last_printed: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Dagster puts the event on the record it hands its loggers (attribute `dagster_event`).
        event = getattr(record, "dagster_event", None)
        if event is None or not event.is_engine_event:
            return
        pool = event.engine_event_data.metadata.get("pool")
        if pool is None:
            return
        line = waiting_line(self._instance, pool.value)
        if line is not None and line != self._last_printed:
            self._last_printed = line
            print(line, file=sys.stdout, flush=True)


def waiting_line(instance: dg.DagsterInstance, pool: str) -> str | None:
    """Who holds `pool`; None when nobody does any more (the step gets the slot next)."""
    holders = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
    if not holders:
        return None
    held_by = ", ".join(f"run {slot.run_id[:8]} (step {slot.step_key})" for slot in holders)
    return f"waiting for pool {pool}: held by {held_by}"
