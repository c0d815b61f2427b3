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
# The start of every console log record (Dagster's format: "%(asctime)s - %(name)s - ..."); a
# line without it continues the record before it. Colour codes are ignored when matching.
RECORD = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
COLOUR = re.compile(rb"\x1b\[[0-9;]*m")


def pass_on(source: BinaryIO, sink: BinaryIO) -> None:
    """Copy `source` to `sink` line by line until `source` ends, the canceled runs' errors left out."""
    in_canceled_record = False
    for line in iter(source.readline, b""):
        plain = COLOUR.sub(b"", line)
        if in_canceled_record and not RECORD.match(plain):
            continue
        in_canceled_record = CANCELED in plain
        sink.write(line)
        sink.flush()
