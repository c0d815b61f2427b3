"""One line for a `dagster` command started without DAGSTER_HOME (a bare `dagster dev`, `dagster
asset materialize`): Dagster then keeps its runs in a temporary instance, removed when the command
exits, that `make dev`, `make run` and `make load` never show. It cannot be pointed at the project's
instance from here (Dagster made its instance before it imported this code location), so it says
what to use instead.

Called as `definitions` is imported. Only the process that loads the code location for the
command prints it: a code server (`dagster api grpc`) or the command itself, not each run worker
(`dagster api execute_run`) and step process that imports it again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ADVICE = (
    "ProbablyFresh: DAGSTER_HOME is not set, so Dagster keeps this command's runs in a temporary "
    "instance that `make dev` never shows: use `make dev` (the UI) or `make load` (load data/) instead"
)


def advise_against_a_temporary_instance() -> None:
    if os.environ.get("DAGSTER_HOME") or not _dagster_command() or "execute_run" in sys.argv:
        return
    print(ADVICE, file=sys.stderr, flush=True)


def _dagster_command() -> bool:
    """Whether this process is the `dagster` command (`dagster …` or `python -m dagster …`)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "dagster" or program.parts[-2:] == ("dagster", "__main__.py")
