"""`make dev`'s terminal filter: a canceled run's errors are left out, every other error kept."""

import io

from probablyfresh_dagster.local_runs.dev_output import pass_on

STAMP = "2026-12-03 17:24:51 +0000 - dagster - ERROR - pipeline - 0628de04 - 29649 - "


def _filtered(text: str) -> str:
    sink = io.BytesIO()
    pass_on(io.BytesIO(text.encode()), sink)
    return sink.getvalue().decode()


def test_an_interrupted_step_and_the_cancel_keep_one_line_each_and_no_stack_trace():
    output = _filtered(
        f"{STAMP}purchases_mart - STEP_FAILURE - Execution of step failed.\n\n"
        "dagster._core.errors.DagsterExecutionInterruptedError\n\nStack Trace:\n  File x\n"
        f"{STAMP}RUN_CANCELED - Execution of run canceled.\n\nStack Trace:\n  File y\n"
    )
    assert output.splitlines() == [
        f"{STAMP}purchases_mart - STEP_FAILURE - Execution of step failed.",
        f"{STAMP}RUN_CANCELED - Execution of run canceled.",
    ]


def test_a_step_failing_on_its_own_keeps_its_whole_error():
    text = (
        f"{STAMP}purchases_mart - STEP_FAILURE - Execution of step failed.\n\nValueError: bad\n\nStack Trace:\n  File z\n"
        f"{STAMP}RUN_FAILURE - Execution of run failed.\n"
    )
    assert _filtered(text) == text
