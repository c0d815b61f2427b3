"""An exclusive lock between the processes of one machine that a dead holder cannot keep.

`flock` locks belong to the open file: the kernel releases them when the holder's process ends,
however it ends (kill -9 included), so there is nothing to expire or clean up. The holder writes
who it is into the file, so a process that has to wait can say what it waits for. Used for the
chDB folder, the generator's data root and the embedded outbox's publish leases.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.private_files import private_file


@contextmanager
def exclusive_file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold `path`'s lock for the block; when another process holds it, log once that this one
    waits for `what` and who holds it, then wait."""
    fd = os.open(private_file(path), os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            dg.get_dagster_logger().warning(f"Waiting for {what}: held by {holder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _me().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
