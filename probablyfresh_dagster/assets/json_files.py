"""The landing zone's JSON files, written by the generator (one multi-asset: purchases refer to
the stores, products and customers of the same generation)."""

from pathlib import Path

import dagster as dg

from probablyfresh_dagster.assets.catalog import OWNERS
from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.generator import GeneratorConfig, generate, resolve_seed
from probablyfresh_dagster.resources.files import FilesResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            entity.asset("json_files"),
            group_name=entity.name,
            kinds={"json"},
            owners=OWNERS,
            description=(
                f"Generated {entity.name} under data/{entity.name}/: one JSON file per record, or one"
                " JSON-lines batch file (config `format`)."
            ),
        )
        for entity in ENTITIES
    ],
)
def generated_json_files(context: dg.AssetExecutionContext, config: GeneratorConfig, files: FilesResource):
    written = generate(config, Path(files.root))
    seed = resolve_seed(config.seed)
    context.log.info(f"Generated with seed {seed}: {written}")
    for entity in ENTITIES:
        yield dg.MaterializeResult(
            asset_key=entity.asset("json_files"),
            metadata={
                "records": written[entity.name],
                "seed": seed,
                "format": config.format,
                "folder": dg.MetadataValue.path(str(files.folder(entity))),
            },
        )
