"""`heap.collecting_new_objects_only`: the heap frozen for the block, and only for it."""

from __future__ import annotations

import gc

import pytest

from probablyfresh_dagster.heap import collecting_new_objects_only


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_heap_is_frozen_inside_the_block_and_collected_again_after_it_even_on_error() -> None:
    gc.collect()
    old = Cycle()
    del old  # garbage from before the block: frozen with the rest, so not collected inside it
    with pytest.raises(RuntimeError), collecting_new_objects_only():
        assert gc.get_freeze_count() > 0
        new = Cycle()
        del new  # garbage made inside the block is collected there
        assert gc.collect() > 0
        raise RuntimeError("the stage failed")
    assert gc.get_freeze_count() == 0
    assert gc.collect() > 0, "the garbage from before the block was never collected"
