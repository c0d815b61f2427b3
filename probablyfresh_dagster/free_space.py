"""Free space is checked before a step writes to a state folder, not discovered when it runs out.

A full disk in the middle of a write leaves a half-done state (chDB's 0-byte table metadata); a
step that finds less than the margin free stops before it writes anything, with one line naming
the folder, the free and the needed space (README "Free space, and what a failure says first").
"""

from __future__ import annotations

import os
from pathlib import Path

MIN_FREE_BYTES_ENV = "PROBABLYFRESH_MIN_FREE_BYTES"
DEFAULT_MIN_FREE_BYTES = 64 << 20
"""A step of the default run writes a few MiB; a MART rebuild of a million purchases writes a few
hundred. 64 MiB stops the small steps long before the disk is full, and makes room for the
ClickHouse merges that follow a load; a larger pipeline wants a larger margin."""


class NotEnoughSpace(Exception):
    """A state folder has less free space than the margin: nothing was written."""


def min_free_bytes() -> int:
    """The margin: `PROBABLYFRESH_MIN_FREE_BYTES`, or 64 MiB when it is unset or empty."""
    value = os.environ.get(MIN_FREE_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_MIN_FREE_BYTES
    if not value.isdigit():
        raise ValueError(f"{MIN_FREE_BYTES_ENV} must be a whole number of bytes, got {value!r}")
    return int(value)


def free_bytes(folder: Path) -> int:
    """What an unprivileged writer may still use in the file system that holds (or will hold) `folder`."""
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    status = os.statvfs(existing)
    return status.f_bavail * status.f_frsize


def require_free_space(folder: Path) -> None:
    """Raise `NotEnoughSpace` when the file system of `folder` has less free space than the margin."""
    needed, free = min_free_bytes(), free_bytes(folder)
    if free < needed:
        raise NotEnoughSpace(
            f"Not enough free space in {folder}: {size(free)} free, {size(needed)} needed ({MIN_FREE_BYTES_ENV})"
        )


UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(count: int) -> str:
    """A byte count as a person reads it: `512 B`, `16.0 KiB`, `64.0 MiB`."""
    power = min(len(UNITS) - 1, max(0, count.bit_length() - 1) // 10)
    return f"{count} B" if power == 0 else f"{count / 1024**power:.1f} {UNITS[power]}"
