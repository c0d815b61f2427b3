"""`catch_up_sensor`: whatever stage of an entity is behind the one before it is loaded, from the
state itself, on the next tick.

Each tick reads, per entity, in the order of the chain, the first of:

- a folder that differs from the fingerprint the latest `E_mongo_collection` materialization
  recorded: load from MongoDB on (`load_E` whole);
- documents waiting in the MongoDB outbox: publish to Kafka on;
- Kafka messages the ClickHouse consumer group has not committed: RAW and MART;
- RAW offsets past the MART's watermark: the MART alone,

and requests one run of that entity's `load_E` job with those stages (with shards, over every
shard: the MART is judged once they are all loaded). The decision never reads
run history or run keys (requests carry none): a run stopped anywhere (killed, terminated, its
server gone) leaves one of these four behind, and the next tick asks again. What does read runs:

- an unfinished run that will materialize the stage (a queued or started one, or a failed one the
  daemon's run retries will re-execute) is left to do it; the skip reason names it;
- while the entity's requests keep failing, the cursor spaces them out: the first failure is
  requested again on the next tick, each further one waits twice as long, from
  `FIRST_BACKOFF_SECONDS` up to `MAX_BACKOFF_SECONDS`. A finished run that succeeded resets it.

ClickHouse is read last, with a short wait for the chDB lock: a run holding it makes the tick
say "busy" for the MART watermarks instead of waiting. Backends are read without the steps'
transient retries: a server away makes the tick say so, and the next tick is the retry. A skip
reason says "up to date" only when every entity was read and nothing is behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG
from filelock import Timeout

from probablyfresh_dagster.assets.mongo import FOLDER_FINGERPRINT
from probablyfresh_dagster.assets.sharding import every_shard, shard_count
from probablyfresh_dagster.documents import DocumentStore
from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, Entity, Stage
from probablyfresh_dagster.events import EventLog, lag
from probablyfresh_dagster.jobs import LOAD_JOBS, load_job_name, pipeline_job
from probablyfresh_dagster.landing_folder import folder_fingerprint, landing_entries
from probablyfresh_dagster.mart_load import unjudged_ranges
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.shards import Shard
from probablyfresh_dagster.sql import query
from probablyfresh_dagster.transient import Backoff, backoff, is_transient

ENTITY_TAG = "probablyfresh/entity"
BEHIND_TAG = "probablyfresh/behind"
"""Tags of a requested run: the entity, and what was behind."""
UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
"""The statuses of a run that may still materialize its assets (one being canceled will not)."""
RETRY_PENDING_SECONDS = 60
"""How long a failed run that Dagster's run retries will re-execute counts as unfinished: the
daemon launches the retry within seconds, and without a daemon nothing ever will."""
FIRST_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 600.0
CHDB_WAIT_SECONDS = 2.0
"""How long a tick waits for a run holding the chDB folder before calling ClickHouse busy."""
NO_RETRIES = Backoff(budget=0)


@dataclass(frozen=True)
class Behind:
    stage: Stage
    """The first stage to run; the request runs it and every later one."""
    reason: str

    @property
    def stages(self) -> tuple[Stage, ...]:
        return LOAD_STAGES[LOAD_STAGES.index(self.stage) :]


def _latest_per_shard(instance: dg.DagsterInstance, asset: dg.AssetKey, shards: int) -> list[dg.EventLogRecord | None]:
    """The latest materialization of each shard's partition of `asset` (of the asset, unpartitioned)."""
    partitions = [[shard.key] for shard in Shard.all(shards)] if shards > 1 else [None]
    return [
        next(iter(instance.fetch_materializations(dg.AssetRecordsFilter(asset, asset_partitions=keys), limit=1).records), None)
        for keys in partitions
    ]


def _entry(record: dg.EventLogRecord, entry: str) -> object | None:
    """The value of metadata `entry` of a materialization, if it has one."""
    materialization = record.asset_materialization
    value = materialization.metadata.get(entry) if materialization else None
    return None if value is None else value.value


def _is_loaded(instance: dg.DagsterInstance, entity: Entity, files: FilesResource, shards: int) -> bool:
    """Whether the latest MongoDB load of each shard of `entity` read its folder as it is now. A
    folder not loaded by every shard is up to date while it holds nothing named like a landing file."""
    latest = _latest_per_shard(instance, entity.asset_key(Stage.MONGO_COLLECTION), shards)
    if None in latest:
        return next(landing_entries(files.folder(entity)), None) is None
    fingerprint = folder_fingerprint(files.folder(entity))
    return all(record is not None and _entry(record, FOLDER_FINGERPRINT) == fingerprint for record in latest)


def _outbox_waits(instance: dg.DagsterInstance, entity: Entity, store: DocumentStore, shards: int) -> bool:
    """Whether MongoDB holds pending documents beyond those the latest publication of each shard
    withheld (a clear phone or email outside the declared fields stays pending until its file is
    fixed). A run over several shards records their total on each: it counts once."""
    latest = _latest_per_shard(instance, entity.asset_key(Stage.KAFKA_TOPIC), shards)
    by_run = {record.run_id: _entry(record, "withheld") for record in latest if record is not None}
    kept_back = sum(withheld for withheld in by_run.values() if isinstance(withheld, int))
    return len(next(store.pending(entity.name, batch_size=kept_back + 1), [])) > kept_back


def _upstream_behind(
    instance: dg.DagsterInstance, entity: Entity, files: FilesResource, store: DocumentStore, log: EventLog, shards: int
) -> Behind | None:
    """The first of files, outbox and Kafka that the next stage has not taken in."""
    if not _is_loaded(instance, entity, files, shards):
        return Behind(Stage.MONGO_COLLECTION, "files changed since the latest MongoDB load")
    if _outbox_waits(instance, entity, store, shards):
        return Behind(Stage.KAFKA_TOPIC, "documents waiting in the MongoDB outbox")
    try:
        waiting = lag(log, entity.name, CLICKHOUSE_GROUP)
    except LookupError:  # no topic yet: nothing was published
        waiting = 0
    if waiting:
        return Behind(Stage.CLICKHOUSE_RAW, f"{waiting} Kafka messages not in RAW")
    return None


def _mart_behind(clickhouse: ClickHouseResource, entities: Sequence[Entity]) -> dict[str, Behind]:
    """The entities among `entities` whose RAW holds offsets past their MART's watermark."""
    behind = {}
    with clickhouse.client(wait_seconds=CHDB_WAIT_SECONDS) as client:
        tables = [*(e.raw_table for e in entities), "mart_watermarks"]
        existing = {name for (name,) in query(client, "queries/existing_tables", tables=tables).result_rows}
        for entity in (e for e in entities if e.raw_table in existing):
            if "mart_watermarks" not in existing:
                behind[entity.name] = Behind(Stage.MART, "RAW never judged into the MART")
            elif offsets := sum(r.upper - r.lower for r in unjudged_ranges(client, entity)):
                behind[entity.name] = Behind(Stage.MART, f"{offsets} RAW offsets past the MART's watermark")
    return behind


def _will_materialize(run: dg.DagsterRun, asset: dg.AssetKey) -> bool:
    if run.asset_selection is not None:
        return asset in run.asset_selection
    if run.job_name == pipeline_job.name:
        return True
    return any(run.job_name == load_job_name(e) and asset in {e.asset_key(s) for s in LOAD_STAGES} for e in ENTITIES)


def _runs_that_will_load(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Unfinished runs, and failed ones that Dagster's run retries are about to re-execute."""
    unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES))
    recently = datetime.now(UTC) - timedelta(seconds=RETRY_PENDING_SECONDS)
    failed = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], tags={WILL_RETRY_TAG: "true"}, updated_after=recently)
    )
    return [*unfinished, *(run for run in failed if run.remote_job_origin and AUTO_RETRY_RUN_ID_TAG not in run.tags)]


@dataclass
class Failures:
    """An entity's requests that failed in a row (kept in the cursor): `counted` is the latest run
    counted, `until` when the next request may be made."""

    count: int = 0
    counted: str = ""
    until: float = 0.0

    def seen(self, instance: dg.DagsterInstance, entity: Entity, now: float) -> None:
        """Count the entity's latest requested run if it failed (or was canceled) since the last tick."""
        latest = instance.get_runs(filters=dg.RunsFilter(tags={ENTITY_TAG: entity.name}), limit=1)
        if not latest:
            return
        run = latest[0]
        if run.status == dg.DagsterRunStatus.SUCCESS:
            self.count, self.until = 0, 0.0
        elif run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED) and run.run_id != self.counted:
            self.count, self.counted = self.count + 1, run.run_id
            delay = 0.0 if self.count == 1 else min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (self.count - 2))
            self.until = now + delay


def _read_cursor(cursor: str | None) -> dict[str, Failures]:
    return {name: Failures(**state) for name, state in json.loads(cursor or "{}").items()}


def _behind_now(
    instance: dg.DagsterInstance,
    files: FilesResource,
    mongo: DocumentStoreResource,
    kafka: EventLogResource,
    clickhouse: ClickHouseResource,
    shards: int,
) -> tuple[dict[str, Behind], list[str]]:
    """What is behind, by entity name, and notes on what could not be read."""
    behind: dict[str, Behind] = {}
    notes: list[str] = []
    with backoff(NO_RETRIES), ExitStack() as stack:
        store, log = stack.enter_context(mongo.open()), stack.enter_context(kafka.open())
        for entity in ENTITIES:
            if found := _upstream_behind(instance, entity, files, store, log, shards):
                behind[entity.name] = found
        try:
            behind |= _mart_behind(clickhouse, [e for e in ENTITIES if e.name not in behind])
        except Timeout:
            notes.append("ClickHouse busy (a run holds chDB): MART watermarks not read this tick")
    return behind, notes


@dg.sensor(
    jobs=list(LOAD_JOBS.values()),
    minimum_interval_seconds=30,
    description="Per entity, the stages behind the one before them (changed files, the MongoDB outbox, "
    "Kafka lag, RAW past the MART's watermark): one run of `load_E` with exactly those stages.",
)
def catch_up_sensor(
    context: dg.SensorEvaluationContext,
    files: FilesResource,
    mongo: DocumentStoreResource,
    kafka: EventLogResource,
    clickhouse: ClickHouseResource,
):
    instance, now = context.instance, time.time()
    assert context.repository_def is not None  # a tick is given its code location's definitions
    shards = shard_count(context.repository_def.get_job(load_job_name(ENTITIES[0])))
    try:
        behind, notes = _behind_now(instance, files, mongo, kafka, clickhouse, shards)
    except Exception as error:
        if not is_transient(error):
            raise
        said = str(error).partition(": ")[0]  # the backend's own words, not the client's details
        return dg.SkipReason(f"State not read ({type(error).__name__}): {said}. The next tick reads it again.")

    failures = _read_cursor(context.cursor)
    runs = _runs_that_will_load(instance)
    requests = []
    for entity in ENTITIES:
        state = failures.setdefault(entity.name, Failures())
        state.seen(instance, entity, now)
        if (found := behind.get(entity.name)) is None:
            failures[entity.name] = Failures(counted=state.counted)
            continue
        stages = ", ".join(found.stages)
        loading = next((run.run_id for run in runs if _will_materialize(run, entity.asset_key(found.stage))), None)
        if loading:
            notes.append(f"{entity.name}: {found.reason}; run {loading} will load it")
        elif state.until > now:
            notes.append(
                f"{entity.name}: {found.reason}; {state.count} runs failed in a row, "
                f"requesting {stages} again in {state.until - now:.0f} s"
            )
        else:
            notes.append(f"{entity.name}: {found.reason}: requesting {stages}")
            requests.append(
                dg.RunRequest(
                    job_name=load_job_name(entity),
                    asset_selection=[entity.asset_key(stage) for stage in found.stages],
                    tags={ENTITY_TAG: entity.name, BEHIND_TAG: found.stage.value, **every_shard(shards)},
                )
            )
    context.update_cursor(json.dumps({name: vars(state) for name, state in failures.items()}))
    for note in notes:
        context.log.info(note)
    if requests:
        return requests
    return dg.SkipReason("; ".join(notes) or "Up to date: every entity's MART holds everything its files hold.")


SENSORS = [catch_up_sensor]
