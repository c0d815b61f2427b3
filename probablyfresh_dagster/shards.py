"""Shards: the unit of parallel work of an entity's chain (see DESIGN, "Shards").

With N shards, shard k of an entity is:

- in the landing zone and MongoDB, the records whose source id hashes to k (`crc32 % N`): a
  one-record file is read by one shard only, and each shard reads a batch file's lines but parses
  only its own. By source, not by natural key: the key is only known once a record is parsed, and
  a source's versions then stay in one shard, whose order the MART's winner rule does not need;
- in the outbox, the pending documents of those sources, published under the shard's own lease,
  transactional id and checkpoint, so the shards publish side by side, each exactly once;
- in RAW, the topic's partitions p with `p % N == k`, so no two shards read one partition.

One shard, `WHOLE`, is the chain as it was before there were shards: the same lease, transactional
id, checkpoint and rejects file names.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @classmethod
    def all(cls, count: int) -> list[Shard]:
        return [cls(index, count) for index in range(count)]

    @classmethod
    def from_key(cls, key: str) -> Shard:
        """The shard of a Dagster partition key (`key`)."""
        index, count = key.split("-of-")
        return cls(int(index), int(count))

    @property
    def key(self) -> str:
        """Its Dagster partition key, with the count: a key keeps its meaning if the count changes."""
        return f"{self.index}-of-{self.count}"

    @property
    def suffix(self) -> str:
        """What names its lease, transactional id, checkpoint and rejects file apart; empty for `WHOLE`."""
        return "" if self.count == 1 else f".shard-{self.key}"

    def owns_source(self, source_id: str) -> bool:
        return self.count == 1 or source_shard(source_id, self.count) == self.index

    def owns_partition(self, partition: int) -> bool:
        return partition % self.count == self.index


WHOLE = Shard(0, 1)


def source_shard(source_id: str, count: int) -> int:
    """The index of the shard of `count` that holds the source."""
    return zlib.crc32(source_id.encode("utf-8", "surrogateescape")) % count
