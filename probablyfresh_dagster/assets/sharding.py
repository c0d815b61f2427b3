"""The shards of an entity's chain as Dagster sees them: one partition per shard of the MongoDB,
Kafka and RAW stages (see `shards`), so a backfill, the UI and the sensors address each shard and a
run launcher can place their runs on different workers. One shard keeps the stages unpartitioned."""

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from probablyfresh_dagster.shards import WHOLE, Shard


def shard_partitions(shards: int) -> dg.StaticPartitionsDefinition | None:
    """One partition per shard (`Shard.key`); None for a single shard."""
    return dg.StaticPartitionsDefinition([shard.key for shard in Shard.all(shards)]) if shards > 1 else None


def shards_of(context: dg.AssetExecutionContext) -> list[Shard]:
    """The shards a step works on, one after another: its run's partition, or the partitions of a
    range run (`make run` loads every shard in one run), or `WHOLE` when unpartitioned."""
    if context.assets_def.partitions_def is None:
        return [WHOLE]
    return [Shard.from_key(key) for key in context.partition_keys]


def covers_all(shards: list[Shard]) -> bool:
    """Whether a step's shards are the whole entity."""
    return len(shards) == shards[0].count


def every_shard(shards: int) -> dict[str, str]:
    """The tags of a run over every shard at once: the range of all partitions (none for one shard)."""
    if shards == 1:
        return {}
    keys = [shard.key for shard in Shard.all(shards)]
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def shard_count(job: dg.JobDefinition) -> int:
    """The shards of a job's assets: its partitions, or 1."""
    return len(job.partitions_def.get_partition_keys()) if job.partitions_def else 1
