"""One `make dev` per Dagster instance: an exclusive lock on `DAGSTER_HOME/make-dev.lock`.

Two `dagster dev` on one DAGSTER_HOME would run two daemons on one instance: every sensor ticks
twice, run monitoring and run queues race. The lock is an flock on an open file: the kernel
releases it when the last process holding the file closes it or dies, so a killed `make dev`
never leaves a stale lock. The wrapper, `dagster dev` and the watchdog all hold it, so it lasts
as long as any of them is alive. The file names the holder, for the refusal's one line.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "make-dev.lock"


class AlreadyRunning(Exception):
    """Another `make dev` holds the instance; the message says which and where."""


def lock_instance(home: Path) -> int:
    """Lock `home` for this `make dev`; the lock's file descriptor (inheritable, to pass on)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 200).decode(errors="replace").strip() or "a process that is starting"
        os.close(descriptor)
        raise AlreadyRunning(
            f"make dev is already running on this instance (DAGSTER_HOME={home}): {holder}. "
            "Use that one, or stop it first (Ctrl-C in its terminal)."
        ) from None
    os.set_inheritable(descriptor, True)
    return descriptor


def name_holder(descriptor: int, holder: str) -> None:
    """Write who holds the lock into its file (replacing what a previous holder wrote)."""
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, holder.encode(), 0)
