"""Python's cyclic garbage collector kept off the heap a stage starts with."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collecting_new_objects_only() -> Iterator[None]:
    """Exempt every object alive now from collection for the block (`gc.freeze`).

    A stage allocates objects by the dozen per record, and whenever enough of them outlive a young
    collection the collector walks every object of the process, Dagster's own included. Frozen,
    the heap the step started with is skipped.
    Garbage among the frozen objects is collected as usual after the block.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
