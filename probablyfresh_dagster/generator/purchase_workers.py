"""A generation's purchases rendered as JSON lines by a process per core.

Drawing and rendering the purchases is all the generator's time, on one core. Here the parent
starts a worker per core (`python -m probablyfresh_dagster.generator.purchase_workers INDEX COUNT`,
which imports no more than drawing needs), gives each the generation's `PurchaseDraw` on its
standard input, and takes the blocks in order: block n from worker n mod COUNT. A worker renders its
blocks one after another, each written to its standard output behind its size. A pipe holds little,
so a worker is at most one block ahead of the parent, and memory does not grow with the purchases.

A worker ignores Ctrl-C: its parent decides, and kills its workers when it stops early. A worker
whose parent is gone (killed) fails at its next write and exits.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from typing import IO

import orjson

from probablyfresh_dagster.generator.purchases import PurchaseDraw

HEADER = struct.Struct("<QQ")
"""Before each block's lines: its purchases and its size in bytes."""


def rendered_blocks(draw: PurchaseDraw, workers: int | None = None) -> Generator[tuple[int, bytes], None, None]:
    """Each block of `draw` as (its purchases, their JSON lines), in order; drawn by `workers`
    processes (default: one per core this process may use), or by this one if that is one."""
    workers = min(workers or _usable_cores(), draw.blocks)
    if workers <= 1:
        yield from (rendered(draw, number) for number in range(draw.blocks))
        return
    with ExitStack() as stack:
        outputs = [stack.enter_context(_worker(index, workers, draw)) for index in range(workers)]
        for number in range(draw.blocks):
            yield _read_block(outputs[number % workers], number)


def _usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system has one: Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def rendered(draw: PurchaseDraw, number: int) -> tuple[int, bytes]:
    lines = [orjson.dumps(purchase, option=orjson.OPT_APPEND_NEWLINE) for purchase in draw.block(number)]
    return len(lines), b"".join(lines)


@contextmanager
def _worker(index: int, workers: int, draw: PurchaseDraw) -> Iterator[IO[bytes]]:
    """A worker's output while it renders the blocks `index`, `index + workers`, ... of `draw`."""
    command = [sys.executable, "-m", __name__, str(index), str(workers)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        with process.stdin:
            pickle.dump(draw, process.stdin)
        yield process.stdout
    finally:
        process.kill()  # one that wrote its last block has exited; one still at work stops here
        process.wait()
        process.stdout.close()


def _read_block(output: IO[bytes], number: int) -> tuple[int, bytes]:
    header = output.read(HEADER.size)
    purchases, size = HEADER.unpack(header) if len(header) == HEADER.size else (0, 0)
    lines = output.read(size) if size else b""
    if not size or len(lines) < size:
        raise RuntimeError(f"the purchase worker drawing block {number} stopped before writing it (its error is above)")
    return purchases, lines


def main(index: int, workers: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    draw: PurchaseDraw = pickle.load(sys.stdin.buffer)
    output = sys.stdout.buffer
    try:
        for number in range(index, draw.blocks, workers):
            purchases, lines = rendered(draw, number)
            output.write(HEADER.pack(purchases, len(lines)))
            output.write(lines)
            output.flush()
    except BrokenPipeError:
        # The parent is gone: nothing to say, and nobody to say it to at exit's flush either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), output.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
