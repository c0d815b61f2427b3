"""The asset graph: the generator's files, then four stages per entity, built from the registry."""

import dagster as dg

from probablyfresh_dagster.assets.glossary import glossary
from probablyfresh_dagster.assets.json_files import generated_json_files
from probablyfresh_dagster.assets.kafka import build_kafka_topic
from probablyfresh_dagster.assets.mart import build_mart
from probablyfresh_dagster.assets.mongo import build_mongo_collection
from probablyfresh_dagster.assets.raw import build_clickhouse_raw
from probablyfresh_dagster.checks import standalone_checks
from probablyfresh_dagster.entities import ENTITIES, Stage

BUILDERS = (build_mongo_collection, build_kafka_topic, build_clickhouse_raw, build_mart)
"""Each stage's asset factory, after the files, in the order of `Stage`."""


def all_assets(shards: int) -> list[dg.AssetsDefinition]:
    """Every asset, its stages in `shards` shards (`sharding`), its description ending with what
    each metadata key of it and its checks means."""
    assets = [generated_json_files, *(build(entity, shards) for entity in ENTITIES for build in BUILDERS)]
    checks = [spec for definition in [*assets, *standalone_checks()] for spec in definition.check_specs]
    stages = {entity.asset_key(stage): (entity, stage) for entity in ENTITIES for stage in Stage}

    def explained(spec: dg.AssetSpec) -> dg.AssetSpec:
        names = [check.name for check in checks if check.asset_key == spec.key]
        return spec.replace_attributes(description=f"{spec.description}\n\n{glossary(*stages[spec.key], names)}")

    return [asset.map_asset_specs(explained) for asset in assets]
