"""The code location's jobs: the whole chain (`make run`), the chain without the generator (`make
load`), the checks alone (`make check`), the PII purge (`make purge-pii`) and one load per entity
(what the sensor requests)."""

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, Entity, Stage
from probablyfresh_dagster.purge_pii import purge_clear_pii

pipeline_job = dg.define_asset_job(
    "pipeline",
    selection=dg.AssetSelection.all(),
    description="Generate the files and carry every entity from JSON to MART, with every check.",
)
load_job = dg.define_asset_job(
    "load",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*(e.asset_key(Stage.JSON_FILES) for e in ENTITIES)),
    description="Carry what is in data/ now from JSON to MART, with every check; nothing generated (`make load`).",
)
checks_job = dg.define_asset_job(
    "checks",
    selection=dg.AssetSelection.all_asset_checks(),
    description="Every asset check on what the assets hold now, materializing nothing (`make check`).",
)


@dg.job(name="purge_pii", description="Remove clear-text phones and emails from the topics and RAW (`make purge-pii`).")
def purge_pii_job() -> None:
    purge_clear_pii()


def load_job_name(entity: Entity) -> str:
    return f"load_{entity.name}"


def _load_job(entity: Entity):
    return dg.define_asset_job(
        load_job_name(entity),
        selection=dg.AssetSelection.assets(*(entity.asset_key(stage) for stage in LOAD_STAGES)),
        description=f"Load {entity.name} from its landing folder to its MART, with their checks; the "
        "sensor runs the stages that are behind (a MART alone, or RAW and MART, ...).",
    )


LOAD_JOBS = {entity.name: _load_job(entity) for entity in ENTITIES}
"""`load_stores`, `load_products`, …: by entity name."""
