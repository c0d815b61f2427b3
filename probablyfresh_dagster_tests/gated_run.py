"""`make run` that waits at named points until the test lets it go on: for a test that acts on a
server (kills a broker) at a known moment of a run that then goes on by itself.

    python -m probablyfresh_dagster_tests.gated_run FOLDER POINT [POINT …]

runs `probablyfresh_dagster.run` exactly as `make run` does, except that the call matching the Nth
POINT (a name of `crashing_run`'s points or of `GATES`) writes FOLDER/reached-N, then waits until
FOLDER/go-N exists. A step that Dagster runs again (a retry, in a new process) passes a gate
already opened at once. Test code only, wrapping product functions from the outside.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

from .crashing_run import BROKER_POINTS, POINTS, Point, install

GATES: dict[str, Point] = {
    "raw: purchases about to be consumed": Point("probablyfresh_dagster.raw_load:consume", when="purchases"),
}
"""Points of a run that only a gate needs (a run killed there would tell nothing new)."""
EVERY_POINT = POINTS | BROKER_POINTS | GATES
OPEN_SECONDS = 600
"""How long a gate waits to be opened before the run goes on anyway (a test that died)."""


def reached(folder: Path, number: int) -> Path:
    return folder / f"reached-{number}"


def go(folder: Path, number: int) -> Path:
    return folder / f"go-{number}"


def _wait_open(gate: Path) -> None:
    deadline = time.monotonic() + OPEN_SECONDS
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def main(folder: str, *points: str) -> int:
    for number, point in enumerate(points):
        gate = go(Path(folder), number)
        install(EVERY_POINT[point], reached(Path(folder), number), partial(_wait_open, gate))
    from probablyfresh_dagster import run

    return run.main([])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
