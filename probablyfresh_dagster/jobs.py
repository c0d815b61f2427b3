"""The code location's jobs: the whole chain (`make run`), the chain without the generator (`make
load`), the checks alone (`make check`) and the PII purge (`make purge-pii`)."""

import dagster as dg

from probablyfresh_dagster.entities import ENTITIES, Stage
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
