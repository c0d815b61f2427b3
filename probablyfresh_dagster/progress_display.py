"""A Dagster logger that draws the steps' progress lines (`progress`) on a terminal for `make run`,
`make load` and `make benchmark`.

On a terminal the line is redrawn in place: the step that starts, then its records done, the total
and the rate; it is wiped when the step ends and before a warning is printed. Elsewhere (a
pipe, a CI log) each progress line is printed as it comes, every `PROGRESS_SECONDS` of a long step,
and a short step prints nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import dagster as dg

from probablyfresh_dagster.progress import PROGRESS

CLEAR_LINE = "\r\x1b[K"


def progress_display_logger(stream: TextIO | None = None) -> dg.LoggerDefinition:
    """The logger, drawing on `stream` (default: standard output at the time it logs)."""

    def create(_: dg.InitLoggerContext) -> logging.Logger:
        # DEBUG: Dagster logs a step's start and the run's end at that level.
        logger = logging.Logger("probablyfresh.progress", level=logging.DEBUG)
        logger.addHandler(ProgressDisplay(stream or sys.stdout))
        return logger

    return dg.LoggerDefinition(create, description="Shows which step runs and how far it has got.")


class ProgressDisplay(logging.Handler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(level=logging.DEBUG)
        self._stream = stream
        self._in_place = stream.isatty()
        self._drawn = False

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, PROGRESS, None)
        event = getattr(record, "dagster_event", None)
        if progress is not None:
            self._show(progress.line())
        elif self._in_place and event is not None and event.is_step_start:
            self._show(f"{event.step_key} ...")
        elif record.levelno >= logging.WARNING or (event is not None and (event.is_step_success or event.is_failure)):
            self._wipe()

    def _show(self, line: str) -> None:
        if self._in_place:
            self._stream.write(CLEAR_LINE + line)
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def _wipe(self) -> None:
        if self._drawn:
            self._stream.write(CLEAR_LINE)
            self._stream.flush()
            self._drawn = False
