"""`make dev`'s terminal: what `dagster dev` and every process it starts print, passed on line by
line, except that a canceled run ends with one line instead of a stack trace.

A run terminated from the UI (or stopped with `make dev`) ends with Dagster's RUN_CANCELED event,
which its console logger prints with the DagsterExecutionInterruptedError it carries, stack trace
included (`_error_str_for_event` in dagster/_core/log_manager.py): a dozen lines that say nothing
about the data. That logger is the default of every run launched without logger config, which no
setting of the instance or code location replaces, so its output is trimmed here: the
RUN_CANCELED line is kept, the lines of its error (up to the next log record) are not. The event
itself, with its error, stays in the run's event log in the UI.
"""

from __future__ import annotations

import re
from typing import BinaryIO

CANCELED = b" - RUN_CANCELED - "
STEP_FAILURE = b" - STEP_FAILURE - "
INTERRUPTED = b"DagsterExecutionInterruptedError"
# The start of every console log record (Dagster's format: "%(asctime)s - %(name)s - ..."); a
# line without it continues the record before it. Colour codes are ignored when matching.
RECORD = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
COLOUR = re.compile(rb"\x1b\[[0-9;]*m")


def pass_on(source: BinaryIO, sink: BinaryIO) -> None:
    """Copy `source` to `sink` line by line until `source` ends, the canceled runs' errors left out:
    the error of RUN_CANCELED, and that of a step interrupted by the cancel (held until the next
    record shows whether it was one)."""
    in_canceled_record = False
    held: list[bytes] = []
    for line in iter(source.readline, b""):
        plain = COLOUR.sub(b"", line)
        if RECORD.match(plain):
            _release(held, sink)
            in_canceled_record = CANCELED in plain
            if STEP_FAILURE in plain:
                sink.write(line)
                sink.flush()
                held = [b""]  # the step's error follows, up to the next record
                continue
        elif in_canceled_record:
            continue
        elif held:
            held.append(line)
            continue
        sink.write(line)
        sink.flush()
    _release(held, sink)


def _release(held: list[bytes], sink: BinaryIO) -> None:
    """Write a step failure's held error lines, unless the cancel interrupted the step."""
    if held and not any(INTERRUPTED in COLOUR.sub(b"", line) for line in held):
        sink.writelines(held[1:])
        sink.flush()
    held.clear()
