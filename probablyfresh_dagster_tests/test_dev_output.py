"""`make dev`'s terminal filter: a canceled run ends in one line, every other error is kept and
every record is passed on as soon as it is known."""

import io

from probablyfresh_dagster.local_runs.dev_output import pass_on

RUN = "0628de04-6a2b-4c1e-9f3a-2b1c0d9e8f7a"
OTHER = "1f0e2d3c-4b5a-4968-8776-655443322110"
STAMP = "2026-12-03 17:24:51 +0000 - dagster - {level} - pipeline - {run} - "


def _line(text: str, level: str = "ERROR", run: str = RUN) -> str:
    return STAMP.format(level=level, run=run) + text + "\n"


INTERRUPTED_STEP = (
    _line("29649 - purchases_mart - STEP_FAILURE - Execution of step failed.")
    + "\ndagster._core.errors.DagsterExecutionInterruptedError\n\nStack Trace:\n  File x\n"
)
NOT_REACHED = _line("orders_mart - Dependencies for step orders_mart were not executed: ['purchases_mart']. Not executing.")
CANCELED = _line("29649 - RUN_CANCELED - Execution of run canceled.")
TRACE = "\nStack Trace:\n  File y\n"


def _filtered(text: str) -> str:
    sink = io.BytesIO()
    pass_on(io.BytesIO(text.encode()), sink)
    return sink.getvalue().decode()


def test_a_canceled_run_ends_in_its_one_line_and_other_runs_lose_nothing():
    started = _line("29649 - purchases_mart - STEP_START - Started execution of step.", "DEBUG")
    other = _line("31000 - stores_mart - STEP_START - Started execution of step.", "DEBUG", OTHER)
    output = _filtered(started + INTERRUPTED_STEP + other + NOT_REACHED + NOT_REACHED + CANCELED + TRACE)
    assert output == started + other + CANCELED


def test_a_step_failing_on_its_own_keeps_its_error_and_the_steps_it_stopped():
    failed = (
        _line("29649 - purchases_mart - STEP_FAILURE - Execution of step failed.")
        + "\nValueError: bad\n\nStack Trace:\n  File z\n"
    )
    stopped = _line("orders_mart - Dependencies for step orders_mart failed: ['purchases_mart']. Not executing.")
    ended = _line("29649 - RUN_FAILURE - Execution of run failed.")
    text = failed + stopped + ended
    assert _filtered(text) == text


def test_what_was_held_for_a_run_that_ends_otherwise_is_passed_on_before_its_end():
    ended = _line("29649 - RUN_FAILURE - Execution of run failed.")
    assert _filtered(INTERRUPTED_STEP + NOT_REACHED + ended) == INTERRUPTED_STEP + NOT_REACHED + ended
    assert _filtered(INTERRUPTED_STEP + NOT_REACHED) == INTERRUPTED_STEP + NOT_REACHED  # the output ended first


class _Source(io.BytesIO):
    """A source that records what the sink held each time a line was asked for."""

    def __init__(self, text: str, sink: io.BytesIO) -> None:
        super().__init__(text.encode())
        self.sink = sink
        self.seen: list[str] = []

    def readline(self, size: int | None = -1) -> bytes:
        self.seen.append(self.sink.getvalue().decode())
        return super().readline(size)


def test_a_record_is_passed_on_before_the_next_one_is_read():
    serving = "2026-12-03 17:24:50 +0000 - dagster-webserver - INFO - Serving dagster-webserver on http://127.0.0.1:3000\n"
    started = _line("29649 - purchases_mart - STEP_START - Started execution of step.", "INFO")
    sink = io.BytesIO()
    source = _Source(serving + started, sink)
    pass_on(source, sink)
    assert source.seen == ["", serving, serving + started]
