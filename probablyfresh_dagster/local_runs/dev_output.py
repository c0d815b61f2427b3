"""`make dev`'s terminal: what `dagster dev` and every process it starts print, passed on line by
line, except that a canceled run ends with one line instead of a stack trace and a list of the
steps it did not reach.

A run terminated from the UI (or stopped with `make dev`) ends with Dagster's RUN_CANCELED event,
which its console logger prints with the DagsterExecutionInterruptedError it carries, stack trace
included (`_error_str_for_event` in dagster/_core/log_manager.py). Before it come, at ERROR, the
step the cancel interrupted (a STEP_FAILURE carrying the same error, with the in-process
executor) and one "Dependencies for step … were not executed" line per step left out: all of it
says "canceled", none of it about the data. That logger is the default of every run launched
without logger config, which no setting of the instance or code location replaces, so its output
is trimmed here: those records of a run are held until the run ends, dropped when it ends with
RUN_CANCELED (whose own error lines are left out too) and passed on otherwise. Every event, with
its error, stays in the run's event log in the UI.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import BinaryIO

CANCELED = b" - RUN_CANCELED - "
STEP_FAILURE = b" - STEP_FAILURE - "
INTERRUPTED = b"DagsterExecutionInterruptedError"
NOT_REACHED = re.compile(rb" - Dependencies for step \S+ were not executed: .*\. Not executing\.$")
# The start of every console log record (Dagster's format: "%(asctime)s - %(name)s - ..."); a
# line without it continues the record before it. Colour codes are ignored when matching.
RECORD = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
COLOUR = re.compile(rb"\x1b\[[0-9;]*m")
RUN_ID = re.compile(rb" - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")
RUN_ENDED = re.compile(rb" - RUN_(?:SUCCESS|FAILURE) - ")


class _Trimmer:
    """Passes records on as they come; holds a run's records that may be its cancel's until the
    run ends. A STEP_FAILURE waits for its error lines (up to the next record) to tell which."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.held: dict[bytes, list[bytes]] = defaultdict(list)  # per run
        self.failure: tuple[bytes, list[bytes]] | None = None  # a step failure being read
        self.into: list[bytes] | None = None  # where the current record's lines go; None: the sink
        self.dropping = False  # inside RUN_CANCELED's error

    def line(self, line: bytes) -> None:
        plain = COLOUR.sub(b"", line)
        if not RECORD.match(plain):
            if self.dropping:
                return
            self._put(line)
            return
        self._settle_failure()
        self.into, self.dropping = None, False
        run = RUN_ID.search(plain)
        if run is None:
            self._put(line)
            return
        run_id = run.group(1)
        if CANCELED in plain:
            self.held.pop(run_id, None)
            self._put(line)
            self.dropping = True
        elif NOT_REACHED.search(plain.rstrip(b"\r\n")):
            self.into = self.held[run_id]
            self.into.append(line)
        elif STEP_FAILURE in plain:
            self.failure = (run_id, [line])
            self.into = self.failure[1]
        else:
            if RUN_ENDED.search(plain):
                self._put(*self.held.pop(run_id, []))
            self._put(line)

    def close(self) -> None:
        self._settle_failure()
        self.into = None
        for lines in self.held.values():
            self._put(*lines)
        self.held.clear()

    def _settle_failure(self) -> None:
        if self.failure is None:
            return
        run_id, lines = self.failure
        self.failure = None
        if any(INTERRUPTED in COLOUR.sub(b"", line) for line in lines):
            self.held[run_id].extend(lines)
        else:
            self.into = None
            self._put(*lines)

    def _put(self, *lines: bytes) -> None:
        if self.into is not None:
            self.into.extend(lines)
            return
        self.sink.writelines(lines)
        self.sink.flush()


def pass_on(source: BinaryIO, sink: BinaryIO) -> None:
    """Copy `source` to `sink` record by record until `source` ends, a canceled run's
    interruption left out: its interrupted step, the steps it did not reach and RUN_CANCELED's
    error (RUN_CANCELED's own line is kept)."""
    trimmer = _Trimmer(sink)
    for line in iter(source.readline, b""):
        trimmer.line(line)
    trimmer.close()
