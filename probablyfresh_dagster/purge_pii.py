"""`make purge-pii ENTITY=customers`: take clear-text phones and emails out of an entity's topic and RAW.

The RAW loader never copies a message holding one (see `raw_load`): it sets it aside, and the RAW
check names it while it is still in the log. The `purge_pii` job (see `jobs`, also in the launchpad) removes:

- from RAW, the rows holding one that an older version loaded: recorded as set aside (with field and
  reason), then deleted;
- from the log, every set-aside message. Kafka cannot remove one message: DeleteRecords moves the
  partition's start past it, and the messages before it go too. So the job first makes sure that
  nothing is lost or published twice: RAW's consumer group must be past it (every message before
  it is in RAW, or set aside), and so must the outbox checkpoint of every shard (every version
  published before it is marked in MongoDB). Otherwise it stops and says which asset to materialize first.

A removed message that one of our documents published (its headers name the version) makes that
version pending again, so the next Kafka run publishes it as the rules now say: encrypted, or
withheld while it still holds a phone or email outside its declared fields.
"""

from dataclasses import dataclass

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.cluster_ddl import run_mutation
from probablyfresh_dagster.documents import DocumentStore, DocumentVersion
from probablyfresh_dagster.entities import BY_NAME, ENTITIES, Entity, Stage
from probablyfresh_dagster.events import EventLog, Message
from probablyfresh_dagster.outbox import published_version
from probablyfresh_dagster.pii_scan import SQL_EMAIL, SQL_PHONE
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP, clear_text, record_set_aside, set_aside_row
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_POOL, ClickHouseResource
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.settings import Settings
from probablyfresh_dagster.shards import Shard
from probablyfresh_dagster.sql import query, run_script, stream_rows


class PurgeRefused(Exception):
    """Removing the messages now would lose or repeat a record; the message says what to run first."""


@dataclass(frozen=True)
class Purge:
    raw_rows_moved: int
    """RAW rows holding clear text, now recorded as set aside and deleted from RAW."""
    log_starts: dict[int, int]
    """The partitions whose start moved, and where they start now."""
    republished: int
    """Versions of our documents made pending again, their message removed."""

    def describe(self, entity: Entity) -> str:
        moved = ", ".join(f"{partition}: {start}" for partition, start in sorted(self.log_starts.items())) or "none"
        return (
            f"{entity.name}: {self.raw_rows_moved} RAW rows moved out of {entity.raw_table}; topic "
            f"{entity.name} now starts at (partition: offset) {moved}; {self.republished} document versions "
            f"to publish again with {entity.asset_name(Stage.KAFKA_TOPIC)}"
        )


def purge(entity: Entity, client: Client, log: EventLog, store: DocumentStore, cluster: str | None, shards: int = 1) -> Purge:
    """Remove the entity's clear text from RAW and from the log, as above; the outbox checkpoint is
    that of each of its `shards` (see `shards`)."""
    run_script(client, "raw", table=entity.raw_table)
    run_script(client, "raw_set_aside")
    moved = _move_raw_leaks(entity, client, cluster)
    begins = log.beginning_offsets(entity.name)
    leaks = query(
        client, "queries/set_aside_coordinates", entity=entity.name, partitions=list(begins), starts=list(begins.values())
    ).result_rows
    starts: dict[int, int] = {}
    for partition, offset in leaks:
        starts[partition] = max(starts.get(partition, 0), offset + 1)
    _refuse_losses(entity, log, store, starts, shards)
    versions = [version for partition, offset in leaks for version in _published_versions(log, entity, partition, offset)]
    store.mark_pending(entity.name, versions)  # before the messages go: a crash between repeats nothing
    if starts:
        log.delete_records(entity.name, starts)
    return Purge(moved, starts, len(versions))


def _move_raw_leaks(entity: Entity, client: Client, cluster: str | None) -> int:
    with stream_rows(client, "queries/pii_leak_rows", table=entity.raw_table, email=SQL_EMAIL, phone=SQL_PHONE) as rows:
        messages = [Message(entity.name, partition, offset, key, payload.encode()) for partition, offset, key, payload in rows]
    set_aside = [set_aside_row(entity, message, found) for message in messages if (found := clear_text(message))]
    record_set_aside(client, set_aside)
    if messages:
        coordinates = [(message.partition, message.offset) for message in messages]
        run_mutation(client, "raw_load/delete_rows", cluster, table=entity.raw_table, coordinates=coordinates)
    return len(messages)


def _refuse_losses(entity: Entity, log: EventLog, store: DocumentStore, starts: dict[int, int], shards: int) -> None:
    consumed = log.committed(entity.name, CLICKHOUSE_GROUP)
    checkpoints = [store.checkpoint(entity.name, shard) for shard in Shard.all(shards)]
    marked = {partition: min(checkpoint.get(partition, 0) for checkpoint in checkpoints) for partition in starts}
    for partition, start in sorted(starts.items()):
        for behind, stage in ((consumed, Stage.CLICKHOUSE_RAW), (marked, Stage.KAFKA_TOPIC)):
            if behind.get(partition, 0) < start:
                raise PurgeRefused(
                    f"{entity.name}: partition {partition} would start at {start}, but {entity.asset_name(stage)} has "
                    f"only reached offset {behind.get(partition, 0)}: materialize it first, so that no message "
                    "before it is lost or published again"
                )


def _published_versions(log: EventLog, entity: Entity, partition: int, offset: int) -> list[DocumentVersion]:
    messages = [m for batch in log.read(entity.name, {partition: offset}, {partition: offset + 1}) for m in batch]
    return [version for message in messages if (version := published_version(message))]


class PurgeConfig(dg.Config):
    entities: list[str] = [entity.name for entity in ENTITIES]


@dg.op(pool=CLICKHOUSE_POOL)
def purge_clear_pii(
    context: dg.OpExecutionContext,
    config: PurgeConfig,
    clickhouse: ClickHouseResource,
    kafka: EventLogResource,
    mongo: DocumentStoreResource,
) -> list[str]:
    """Remove set-aside messages from each entity's topic and clear text from its RAW table."""
    described, shards = [], Settings.from_env().shards  # the code location's shards: the same environment's
    with clickhouse.client() as client, kafka.open() as log, mongo.open() as store:
        for name in config.entities:
            if name not in BY_NAME:
                raise PurgeRefused(f"no such entity {name!r}; known: {', '.join(BY_NAME)}")
            entity = BY_NAME[name]
            log.ensure_topic(entity.name)
            described.append(purge(entity, client, log, store, clickhouse.cluster, shards).describe(entity))
            context.log.info(described[-1])
    return described
