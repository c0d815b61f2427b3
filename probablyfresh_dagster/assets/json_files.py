"""The landing zone's JSON files, written by the generator (one multi-asset: purchases refer to
the stores, products and customers of the same generation)."""

from typing import Any

import dagster as dg

from probablyfresh_dagster.assets.catalog import OWNERS
from probablyfresh_dagster.entities import ENTITIES, PURCHASES, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig, resolve_seed
from probablyfresh_dagster.generator.own_files import left_alone
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.resources.files import FilesResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            entity.asset_key(Stage.JSON_FILES),
            group_name=entity.name,
            kinds={"json"},
            owners=OWNERS,
            description=(
                f"Generated {entity.name} under data/{entity.name}/: one JSON file per record, or one"
                " JSON-lines batch file (config `format`). The generator writes, replaces and removes only"
                " the files it wrote: a name held by anything else is left alone and listed."
            ),
        )
        for entity in ENTITIES
    ],
)
def generated_json_files(context: dg.AssetExecutionContext, config: GeneratorConfig, files: FilesResource):
    written = generate(config, files.root_folder, Progress(context.log, PURCHASES.asset_name(Stage.JSON_FILES)))
    seed = resolve_seed(config.seed)
    context.log.info(f"Generated with seed {seed}: " + ", ".join(f"{n}={w.records}" for n, w in written.items()))
    if taken := left_alone(written):
        context.log.warning(f"The generator {taken}")
    for entity in ENTITIES:
        metadata: dict[str, Any] = {
            "records": written[entity.name].records,
            "seed": seed,
            "format": config.format,
            "folder": dg.MetadataValue.path(str(files.folder(entity))),
            "names_left_alone": written[entity.name].taken,
        }
        if first := written[entity.name].first_taken:
            metadata["first_names_left_alone"] = dg.MetadataValue.text(", ".join(first))
        yield dg.MaterializeResult(asset_key=entity.asset_key(Stage.JSON_FILES), metadata=metadata)
