"""Sensors that re-run what changed: new or changed landing files, and Kafka messages not yet in ClickHouse."""

import hashlib
import json
import os

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, Entity
from probablyfresh_dagster.landing import landing_files
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.events import KafkaResource, lag
from probablyfresh_dagster.resources.files import FilesResource

LOAD_STAGES = ("mongo_collection", "kafka_topic", "clickhouse_raw", "mart")
CLICKHOUSE_STAGES = ("clickhouse_raw", "mart")


def _selection(stages: tuple[str, ...]) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(e.asset(s) for e in ENTITIES for s in stages))


def _assets(entity: Entity, stages: tuple[str, ...]) -> list[dg.AssetKey]:
    return [dg.AssetKey(entity.asset(stage)) for stage in stages]


def folder_fingerprint(entity: Entity, files: FilesResource) -> str:
    """A digest of the names, sizes and mtimes of the folder's landing files (`*.json`, `*.jsonl`,
    `*.jsonl.gz`), in constant memory.

    Per-file digests are summed, so directory order does not matter and nothing is sorted. Names
    are taken as bytes (a name need not be UTF-8), and a file gone since the listing is skipped.
    """
    total, count = 0, 0
    for path in landing_files(files.folder(entity)):
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        entry = os.fsencode(path.name) + f"\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
        total = (total + int.from_bytes(hashlib.blake2b(entry, digest_size=8).digest(), "big")) % 2**64
        count += 1
    return f"{count}-{total:016x}"


@dg.sensor(
    target=_selection(LOAD_STAGES),
    minimum_interval_seconds=30,
    description="New or changed landing files in an entity's folder: load that entity from MongoDB to MART.",
)
def json_files_sensor(context: dg.SensorEvaluationContext, files: FilesResource):
    seen = json.loads(context.cursor) if context.cursor else {}
    current = {entity.name: folder_fingerprint(entity, files) for entity in ENTITIES}
    changed = [entity for entity in ENTITIES if seen.get(entity.name) != current[entity.name]]
    context.update_cursor(json.dumps(current))
    if not changed:
        return dg.SkipReason("No landing file was added, changed or removed since the last tick.")
    return [
        dg.RunRequest(
            run_key=f"{entity.name}-files-{current[entity.name]}",
            asset_selection=_assets(entity, LOAD_STAGES),
            tags={"probablyfresh/entity": entity.name, "probablyfresh/trigger": "files"},
        )
        for entity in changed
    ]


@dg.sensor(
    target=_selection(CLICKHOUSE_STAGES),
    minimum_interval_seconds=30,
    description="Kafka messages the ClickHouse consumer group has not committed: load RAW and MART.",
)
def kafka_lag_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    requests = []
    with kafka.open() as log:
        for entity in ENTITIES:
            try:
                behind = lag(log, entity.name, CLICKHOUSE_GROUP)
            except LookupError:  # no topic yet: nothing was published
                continue
            if behind:
                ends = "-".join(f"{p}:{o}" for p, o in sorted(log.end_offsets(entity.name).items()))
                requests.append(
                    dg.RunRequest(
                        run_key=f"{entity.name}-lag-{ends}",
                        asset_selection=_assets(entity, CLICKHOUSE_STAGES),
                        tags={"probablyfresh/entity": entity.name, "probablyfresh/trigger": "kafka-lag"},
                    )
                )
                context.log.info(f"{entity.name}: {behind} messages not yet in ClickHouse")
    return requests or dg.SkipReason("ClickHouse has every Kafka message.")


SENSORS = [json_files_sensor, kafka_lag_sensor]
