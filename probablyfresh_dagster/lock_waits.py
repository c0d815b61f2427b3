"""An exclusive lock between the processes of one machine that a dead holder cannot keep, and that
says who holds it when it has to wait.

filelock's lock is an `flock`, which the kernel releases when the holder's process ends, however it
ends (kill -9 included): nothing to expire or clean up. The holder writes who it is into the file,
so a process that has to wait can say what it waits for. Used for the chDB folder, the generator's
data root and the embedded outbox's publish leases.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from filelock import FileLock, Timeout

from probablyfresh_dagster.private_files import private_file


@contextmanager
def exclusive_file_lock(path: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold `path`'s lock for the block; when another process holds it, log once that this one
    waits for `what` and who holds it, then wait (at most `timeout` seconds, then raise
    `filelock.Timeout`)."""
    lock = FileLock(private_file(path), fallback_to_soft=False, on_acquired=_sign)
    try:
        held = lock.acquire(blocking=False)
    except Timeout:
        dg.get_dagster_logger().warning(f"Waiting for {what}: held by {_holder(path)}")
        held = lock.acquire(timeout=-1 if timeout is None else timeout)
    with held:
        yield


def _sign(descriptor: int) -> None:
    me = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, me.encode(), 0)


def _holder(path: Path) -> str:
    return path.read_text(errors="replace").strip() or "another process"
