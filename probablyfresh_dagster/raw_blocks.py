"""RAW insert blocks whose bounds do not depend on how the consumer cut its batches, each with an
insert deduplication token: the RAW loader's guard on a replicated ClickHouse cluster, where the
`max(offset)` it resumes from is only as fresh as the replica that answers (README, "ClickHouse as
a cluster").

A block is one Kafka partition's messages within one window of offsets `[k × width, (k + 1) × width)`,
cut short only where the read starts or ends. A run that dies after inserting a block but before
committing its offsets is retried from the same committed offset, so the retry forms the same
blocks and sends the same tokens, and every replica of the shard drops the copy (the tokens are
kept in Keeper, per table). Only the last block of the dead run can differ, when more messages
arrived since: it then holds more rows under another token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from probablyfresh_dagster.events import Message


def aligned_blocks(batches: Iterable[list[Message]], width: int) -> Iterator[list[Message]]:
    """The messages of `batches` (each partition's in offset order, as a consumer delivers them)
    regrouped into blocks of one partition and one offset window of `width`, each yielded once the
    next offset of its partition falls past the window, or the read is over."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    open_blocks: dict[int, list[Message]] = {}
    for batch in batches:
        for message in batch:
            block = open_blocks.setdefault(message.partition, [])
            if block and block[0].offset // width != message.offset // width:
                yield block
                block = open_blocks[message.partition] = []
            block.append(message)
    yield from (block for _, block in sorted(open_blocks.items()) if block)


def deduplication_token(block: list[Message]) -> str:
    """The same for the same messages of one partition, different for any other range:
    `<topic>/<partition>/<first offset>-<last offset>/<count>`."""
    first, last = block[0], block[-1]
    return f"{first.topic}/{first.partition}/{first.offset}-{last.offset}/{len(block)}"


def cluster_insert_settings(block: list[Message]) -> dict[str, object]:
    """The settings of a block's insert into a `Distributed` RAW table: its token, and a foreground
    insert, which returns once the shard stored the block (a background one would queue it on the
    receiving node, and the offsets would be committed before the block is anywhere for sure)."""
    return {"insert_deduplication_token": deduplication_token(block), "distributed_foreground_insert": 1}
