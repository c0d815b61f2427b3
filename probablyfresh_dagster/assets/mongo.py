"""`E_mongo_collection`: the entity's JSON files upserted into MongoDB, bad files set aside.

Each materialization records the fingerprint of the folder it loaded, taken before the files are
read: `catch_up_sensor` compares it with the folder now. A file changed while it was read makes
the recorded fingerprint stale, so the sensor loads again rather than missing the change. The same
listing counts the entries that are not landing files, which the load reports but never reads.
"""

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dagster as dg

from probablyfresh_dagster.assets.catalog import stage_spec
from probablyfresh_dagster.assets.sharding import covers_all, shard_partitions, shards_of
from probablyfresh_dagster.documents import UpsertCounts
from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.example_tables import examples_table
from probablyfresh_dagster.heap import collecting_new_objects_only
from probablyfresh_dagster.landing import RejectCount, read_documents, replacing_reject_log
from probablyfresh_dagster.landing_folder import LANDING_SUFFIXES, survey_folder
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.shards import WHOLE

FOLDER_FINGERPRINT = "folder_fingerprint"
"""The metadata entry holding the fingerprint of the folder a materialization loaded."""


def build_mongo_collection(entity: Entity, shards: int) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset_name(Stage.MONGO_COLLECTION),
        specs=[
            stage_spec(
                entity,
                Stage.MONGO_COLLECTION,
                "mongodb",
                f"MongoDB collection `{entity.name}`: one document per file, `{entity.key}` indexed.",
            )
        ],
        partitions_def=shard_partitions(shards),
    )
    def mongo_collection(
        context: dg.AssetExecutionContext, files: FilesResource, mongo: DocumentStoreResource, expectations: Expectations
    ) -> dg.MaterializeResult:
        survey = survey_folder(files.folder(entity))
        shards = shards_of(context)
        generated = generated_records(context, entity, files.folder(entity)) if covers_all(shards) else None
        progress = Progress(context.log, entity.asset_name(Stage.MONGO_COLLECTION), generated)
        counts, rejects, personal = UpsertCounts(), RejectCount(), expectations.personal_fields(entity)
        with ExitStack() as stack:
            # Each shard's rejects list replaces its file only once every shard is loaded.
            logs = [stack.enter_context(replacing_reject_log(files.rejects(entity, shard))) for shard in shards]
            store = stack.enter_context(mongo.open())
            stack.enter_context(collecting_new_objects_only())
            for shard, log in zip(shards, logs, strict=True):
                documents = read_documents(entity, files.folder(entity), log, files.max_file_bytes, personal, shard)
                counts += store.upsert(entity.name, progress.counted(documents))
                rejects += log
            stored, unique_keys = store.count(entity.name), store.unique_keys(entity.name)
        rejects_path = files.rejects(entity, shards[0]) if len(shards) == 1 else files.rejects(entity, WHOLE).parent
        for rejection in rejects.first:
            context.log.warning(f"Set aside {rejection.file} (record {rejection.record}): {rejection.field}: {rejection.reason}")
        ignored = survey.ignored
        if ignored.count:
            context.log.warning(
                f"Ignored {ignored.count} entries of {files.folder(entity)} not named like landing files"
                f" ({', '.join('*' + suffix for suffix in LANDING_SUFFIXES)}, not hidden), never read: "
                + ", ".join(ignored.first)
                + (", ..." if ignored.count > len(ignored.first) else "")
            )
        metadata: dict[str, Any] = {
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "rejected": rejects.count,
            "dagster/row_count": stored,
            "unique_keys": unique_keys,
            "rejects_file": dg.MetadataValue.path(str(rejects_path)),
            "ignored": ignored.count,
            FOLDER_FINGERPRINT: survey.fingerprint,
        }
        if ignored.first:
            metadata["first_ignored"] = dg.MetadataValue.text(", ".join(ignored.first))
        if rejects.first:
            metadata["first_rejections"] = examples_table(
                ("file", "record", "field", "reason"), [(r.file, r.record or "", r.field, r.reason) for r in rejects.first]
            )
        return dg.MaterializeResult(asset_key=entity.asset_key(Stage.MONGO_COLLECTION), metadata=metadata)

    return mongo_collection


def generated_records(context: dg.AssetExecutionContext, entity: Entity, folder: Path) -> int | None:
    """The records the generator last wrote to the folder, if nothing was added or removed since
    (the folder is older than that materialization): the total of the load's progress."""
    generated = context.instance.get_latest_materialization_event(entity.asset_key(Stage.JSON_FILES))
    try:
        changed = folder.stat().st_mtime
    except OSError:
        return None
    if generated is None or generated.asset_materialization is None or generated.timestamp < changed:
        return None
    records = generated.asset_materialization.metadata.get("records")
    return records.value if isinstance(records, dg.IntMetadataValue) else None
