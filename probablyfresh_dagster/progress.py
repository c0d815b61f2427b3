"""How far a long step has got: records done of the total and the rate, logged every few seconds.

A step counts what it has done (`advance`, per batch or per record: a counter and a clock read) and
the count is logged only when `PROGRESS_SECONDS` have passed since the last line, so the cost does
not depend on the number of records, and a step shorter than that logs nothing. The line goes to
the run's log, so the UI's run page shows it:

    purchases_kafka_topic: 420,000 / 1,000,000 records (52,300/s)

The figures also ride on the log record (attribute `PROGRESS`), so a terminal logger can draw them
(see `progress_display`). The total comes from what is already known before the work starts (the
stage before, or the source's own counts), never from an extra pass over the data; when it is not
known, or the count passes it, the line shows the records done alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

PROGRESS = "probablyfresh_progress"
"""The attribute of a progress line's log record holding its `StepProgress`."""
PROGRESS_SECONDS = 5.0
"""Seconds between two progress lines of a step, unless the environment's
`PROBABLYFRESH_PROGRESS_SECONDS` says otherwise."""

T = TypeVar("T")


@dataclass(frozen=True)
class StepProgress:
    step: str
    done: int
    total: int | None
    rate: float
    """Records per second since the line before (since the start, for the first)."""

    def line(self) -> str:
        of = f" / {self.total:,}" if self.total is not None and self.done <= self.total else ""
        return f"{self.step}: {self.done:,}{of} records ({self.rate:,.0f}/s)"


class Progress:
    """The progress of one step, logged to `log` at most every `interval` seconds. The total may
    be set once the work knows it (None: not known)."""

    def __init__(
        self,
        log: logging.Logger,
        step: str,
        total: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.done, self.total = 0, total
        if interval is None:
            interval = float(os.environ.get("PROBABLYFRESH_PROGRESS_SECONDS", PROGRESS_SECONDS))
        self._log, self._step, self._interval, self._clock = log, step, interval, clock
        self._last_at, self._last_done = clock(), 0

    def advance(self, records: int) -> None:
        self.done += records
        now = self._clock()
        if now - self._last_at >= self._interval:
            rate = (self.done - self._last_done) / max(now - self._last_at, 1e-9)
            figures = StepProgress(self._step, self.done, self.total, rate)
            self._log.info(figures.line(), extra={PROGRESS: figures})
            self._last_at, self._last_done = now, self.done

    def advance_to(self, done: int) -> None:
        """Count up to `done` records in all (never back)."""
        if done > self.done:
            self.advance(done - self.done)

    def counted(self, items: Iterable[T]) -> Iterator[T]:
        """The items, each counted once the consumer asks for the next."""
        for item in items:
            yield item
            self.advance(1)
