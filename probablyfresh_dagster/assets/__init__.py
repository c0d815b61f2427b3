"""The asset graph: the generator's files, then four stages per entity, built from the registry."""

import dagster as dg

from probablyfresh_dagster.assets.clickhouse import build_clickhouse_raw, build_mart
from probablyfresh_dagster.assets.json_files import generated_json_files
from probablyfresh_dagster.assets.kafka import build_kafka_topic
from probablyfresh_dagster.assets.mongo import build_mongo_collection
from probablyfresh_dagster.entities import ENTITIES, Entity

STAGES = (build_mongo_collection, build_kafka_topic, build_clickhouse_raw, build_mart)


def entity_assets(entity: Entity) -> list[dg.AssetsDefinition]:
    return [build(entity) for build in STAGES]


def all_assets() -> list[dg.AssetsDefinition]:
    return [generated_json_files, *(a for entity in ENTITIES for a in entity_assets(entity))]
