"""Steps made to fail for real, and the first line of what they report.

    python -m probablyfresh_dagster_tests.failing_steps ROOT SELECTION [--file-size-limit BYTES]

runs SELECTION of the test platform in ROOT (see `conftest.make_platform`) in this process, under
the file size limit when one is given, and prints the headline of each failed step, one a line.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.free_space import free_bytes
from probablyfresh_dagster.settings import PROJECT_ROOT

from .platforms import make_platform


def headlines(result: dg.ExecuteInProcessResult) -> list[str]:
    """The first line of the error of each failed step or resource (inside Dagster's wrapper),
    without its class."""
    found = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
        elif event.is_resource_init_failure:
            error = event.engine_event_data.error
        else:
            continue
        assert error is not None  # Dagster records the error of every failure
        if error.cause is not None and (error.cls_name or "").startswith("Dagster"):
            error = error.cause
        found.append(error.message.split(": ", 1)[-1].strip().splitlines()[0])
    return found


def stage(name: Stage) -> str:
    """The selection of one stage (`mongo_collection`, …) of every entity."""
    return " ".join(entity.asset_name(name) for entity in ENTITIES)


@contextmanager
def small_filesystem(folder: Path, size: str = "16m") -> Iterator[Path]:
    """`folder` as a tmpfs of `size`: a real file system that really fills up."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Take the free space of `folder`'s file system but `leave` bytes, with one allocated file: that file."""
    with (folder / "ballast").open("wb") as ballast:
        os.posix_fallocate(ballast.fileno(), 0, max(1, free_bytes(folder) - leave))
    return folder / "ballast"


def in_subprocess(
    root: Path, selection: str, *prefix: str, env: dict[str, str] | None = None, file_size_limit: int | None = None
) -> list[str]:
    """The headlines of `selection` run in a fresh process (behind the `prefix` command, if any)."""
    command = [*prefix, sys.executable, "-m", "probablyfresh_dagster_tests.failing_steps", str(root), selection]
    if file_size_limit is not None:
        command += ["--file-size-limit", str(file_size_limit)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("selection")
    parser.add_argument("--file-size-limit", type=int)
    args = parser.parse_args()
    if args.file_size_limit is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size_limit, args.file_size_limit))
    print("\n".join(headlines(make_platform(args.root).run(args.selection))))


if __name__ == "__main__":
    main()
