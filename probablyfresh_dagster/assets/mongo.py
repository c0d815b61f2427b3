"""`E_mongo_collection`: the entity's JSON files upserted into MongoDB, bad files set aside."""

import dagster as dg

from probablyfresh_dagster.assets.preview import markdown_table
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.landing import RejectLog, read_documents
from probablyfresh_dagster.resources.documents import MongoResource
from probablyfresh_dagster.resources.files import FilesResource


def build_mongo_collection(entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        name=entity.asset("mongo_collection"),
        deps=[entity.asset("json_files")],
        group_name=entity.name,
        kinds={"mongodb"},
        description=f"MongoDB collection `{entity.name}`: one document per file, `{entity.key}` indexed.",
    )
    def mongo_collection(
        context: dg.AssetExecutionContext, files: FilesResource, mongo: MongoResource
    ) -> dg.MaterializeResult:
        rejects_path = files.rejects(entity)
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
        with rejects_path.open("w", encoding="utf-8") as handle, mongo.open() as store:
            rejects = RejectLog(handle)
            counts = store.upsert(entity.name, read_documents(entity, files.folder(entity), rejects))
            documents, unique_keys = store.count(entity.name), store.unique_keys(entity.name)
        for rejection in rejects.first:
            context.log.warning(f"Set aside {rejection.file}: {rejection.field}: {rejection.error}")
        metadata = {
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "rejected": rejects.count,
            "dagster/row_count": documents,
            "unique_keys": unique_keys,
            "rejects_file": dg.MetadataValue.path(str(rejects_path)),
        }
        if rejects.first:
            metadata["first_rejections"] = dg.MetadataValue.md(
                markdown_table(("file", "field", "error"), [(r.file, r.field, r.error) for r in rejects.first], width=200)
            )
        return dg.MaterializeResult(metadata=metadata)

    return mongo_collection
