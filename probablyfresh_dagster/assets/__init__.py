"""The asset graph: the generator's files, then four stages per entity, built from the registry."""

import dagster as dg

from probablyfresh_dagster.assets.json_files import generated_json_files
from probablyfresh_dagster.assets.kafka import build_kafka_topic
from probablyfresh_dagster.assets.mart import build_mart
from probablyfresh_dagster.assets.mongo import build_mongo_collection
from probablyfresh_dagster.assets.raw import build_clickhouse_raw
from probablyfresh_dagster.entities import ENTITIES

BUILDERS = (build_mongo_collection, build_kafka_topic, build_clickhouse_raw, build_mart)
"""Each stage's asset factory, after the files, in the order of `Stage`."""


def all_assets() -> list[dg.AssetsDefinition]:
    return [generated_json_files, *(build(entity) for entity in ENTITIES for build in BUILDERS)]
