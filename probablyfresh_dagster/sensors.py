"""Sensors that load what changed: new or changed landing files, and Kafka messages not yet in ClickHouse.

One change makes one run. `json_files_sensor` compares each folder with the fingerprint the latest
`E_mongo_collection` materialization recorded, so turned on over a loaded state it requests
nothing, and it needs no cursor. Neither sensor requests an entity while an unfinished run will
materialize the asset its request would start from: that run loads the change (a run of the whole
job, as `make run` starts, counts for every asset), and whatever it misses is still there to be
seen once it ends. The run keys (the folder's fingerprint, the topic's end offsets) make at most
one request per input: Dagster drops a request whose key a run already has, so a load that failed
is requested again only when its input changes (or rerun by hand).
"""

from collections.abc import Sequence

import dagster as dg

from probablyfresh_dagster.assets.mongo import FOLDER_FINGERPRINT
from probablyfresh_dagster.entities import CLICKHOUSE_STAGES, ENTITIES, LOAD_STAGES, Entity, Stage
from probablyfresh_dagster.events import lag
from probablyfresh_dagster.jobs import checks_job
from probablyfresh_dagster.landing_folder import folder_fingerprint, landing_entries
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.files import FilesResource

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
"""The statuses of a run that may still materialize its assets (one being canceled will not)."""


def _selection(stages: tuple[Stage, ...]) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(e.asset_key(s) for e in ENTITIES for s in stages))


def _assets(entity: Entity, stages: tuple[Stage, ...]) -> list[dg.AssetKey]:
    return [entity.asset_key(stage) for stage in stages]


def _run_that_will_load(runs: Sequence[dg.DagsterRun], asset: dg.AssetKey) -> str | None:
    """The id of an unfinished run among `runs` that will materialize `asset`; a run without an
    asset selection runs its whole job, which materializes every asset but in the checks job."""

    def loads(run: dg.DagsterRun) -> bool:
        if run.asset_selection is None:
            return run.job_name != checks_job.name
        return asset in run.asset_selection

    return next((run.run_id for run in runs if loads(run)), None)


def _is_loaded(instance: dg.DagsterInstance, entity: Entity, files: FilesResource, fingerprint: str) -> bool:
    """Whether the latest MongoDB load of `entity` read its folder as it is now. A folder never
    loaded is up to date while it holds nothing named like a landing file."""
    event = instance.get_latest_materialization_event(entity.asset_key(Stage.MONGO_COLLECTION))
    if event is None or event.asset_materialization is None:
        return next(landing_entries(files.folder(entity)), None) is None
    loaded = event.asset_materialization.metadata.get(FOLDER_FINGERPRINT)
    return loaded is not None and loaded.value == fingerprint


@dg.sensor(
    target=_selection(LOAD_STAGES),
    minimum_interval_seconds=30,
    description="New or changed landing files in an entity's folder: load that entity from MongoDB to MART.",
)
def json_files_sensor(context: dg.SensorEvaluationContext, files: FilesResource):
    runs = context.instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES))
    requests, waiting = [], []
    for entity in ENTITIES:
        fingerprint = folder_fingerprint(files.folder(entity))
        if _is_loaded(context.instance, entity, files, fingerprint):
            continue
        run_id = _run_that_will_load(runs, entity.asset_key(Stage.MONGO_COLLECTION))
        if run_id:
            waiting.append(f"{entity.name}: files changed, run {run_id} will load them")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{entity.name}-files-{fingerprint}",
                asset_selection=_assets(entity, LOAD_STAGES),
                tags={"probablyfresh/entity": entity.name, "probablyfresh/trigger": "files"},
            )
        )
    for reason in waiting:
        context.log.info(reason)
    if requests:
        return requests
    return dg.SkipReason("; ".join(waiting) or "Every folder is as its latest MongoDB load read it.")


@dg.sensor(
    target=_selection(CLICKHOUSE_STAGES),
    minimum_interval_seconds=30,
    description="Kafka messages the ClickHouse consumer group has not committed: load RAW and MART.",
)
def kafka_lag_sensor(context: dg.SensorEvaluationContext, kafka: EventLogResource):
    runs = context.instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES))
    requests, waiting = [], []
    with kafka.open() as log:
        for entity in ENTITIES:
            try:
                behind = lag(log, entity.name, CLICKHOUSE_GROUP)
            except LookupError:  # no topic yet: nothing was published
                continue
            if not behind:
                continue
            run_id = _run_that_will_load(runs, entity.asset_key(Stage.CLICKHOUSE_RAW))
            if run_id:
                waiting.append(f"{entity.name}: {behind} messages not yet in ClickHouse, run {run_id} will load them")
                continue
            ends = "-".join(f"{p}:{o}" for p, o in sorted(log.end_offsets(entity.name).items()))
            requests.append(
                dg.RunRequest(
                    run_key=f"{entity.name}-lag-{ends}",
                    asset_selection=_assets(entity, CLICKHOUSE_STAGES),
                    tags={"probablyfresh/entity": entity.name, "probablyfresh/trigger": "kafka-lag"},
                )
            )
            context.log.info(f"{entity.name}: {behind} messages not yet in ClickHouse")
    for reason in waiting:
        context.log.info(reason)
    if requests:
        return requests
    return dg.SkipReason("; ".join(waiting) or "ClickHouse has every Kafka message.")


SENSORS = [json_files_sensor, kafka_lag_sensor]
