"""What each metadata entry of an asset and of its checks means, shown in the asset's description.

Dagster shows a metadata entry by its key alone, so the catalog says here, once per stage and per
check, what every key the steps emit holds (`dagster/*` keys are Dagster's own). A key a step emits
only now and then (`first_…`, `chdb_repaired`) is listed too. `{table}` stands for each MART table
of the entity. `test_catalog` fails when a materialization or a check emits a key not listed here.
"""

from collections.abc import Iterable

from probablyfresh_dagster.entities import Entity, Stage

CHDB_REPAIRED = {"chdb_repaired": "What chDB's repair restored when this step opened ClickHouse (only when it did)."}

ASSET_KEYS: dict[Stage, dict[str, str]] = {
    Stage.JSON_FILES: {
        "records": "Records the generator wrote for the entity.",
        "seed": "The seed it drew them from (config `seed`, else env `SEED`, else 42).",
        "format": "`json`: one file per record; `jsonl` / `jsonl.gz`: one batch file, a record a line.",
        "folder": "The entity's landing folder.",
        "names_left_alone": "Names the generator would have written but that hold a file it did not write: left alone.",
        "first_names_left_alone": "The first of them.",
    },
    Stage.MONGO_COLLECTION: {
        "inserted": "Documents new to MongoDB in this run (a file or batch line never seen).",
        "updated": "Documents whose file or line changed: stored again as a new version, to publish.",
        "unchanged": "Documents read again as they were: nothing to do.",
        "rejected": "Records set aside this run, each with file, record, field and reason in the rejects file.",
        "unique_keys": "Distinct natural keys among the collection's documents.",
        "rejects_file": "Where this run's set-aside records are listed, one JSON line each (with shards: the"
        " shard's list, or for a run over several shards the folder of their lists).",
        "ignored": "Entries of the folder not named like landing files, never read.",
        "folder_fingerprint": "The folder's names, sizes and times as this run found them: the sensor's 'changed?' test.",
        "first_ignored": "The first ignored names.",
        "first_rejections": "The first set-aside records, with file, record, field and reason.",
    },
    Stage.KAFKA_TOPIC: {
        "published": "Documents published to the topic in this run (each version once).",
        "recovered": "Documents an interrupted run had published without marking them: marked now, not re-sent.",
        "withheld": "Documents not published: they would have put a clear-text phone or email in the topic.",
        "personal_values_kept_as_written": "Phones or emails encrypted as written, as they do not normalize.",
        "end_offsets": "Per partition, the offset the next message will get (Kafka counts transaction markers too).",
        "sample_message": "The newest message of the topic as published (phone and email are ciphertext).",
        "first_withheld": "The first withheld documents, with field and reason.",
    },
    Stage.CLICKHOUSE_RAW: {
        "inserted": "Messages this run inserted into the RAW table (a re-delivered offset adds nothing).",
        "unique_keys": "Distinct message keys in the RAW table.",
        "consumer_lag": "Messages of the topic RAW's consumer group had not stored when the step ended.",
        **CHDB_REPAIRED,
    },
    Stage.MART: {
        "{table}_rows": "Rows of `{table}`, read with FINAL (a replaced version is not counted).",
        "{table}_columns": "The columns of `{table}`, a further table of this asset, as ClickHouse reports them.",
        "raw_rows": "Rows of the RAW table, business duplicates included.",
        "raw_unique_keys": "Distinct keys in RAW: each is in the MART or refused with a reason.",
        "judged_rows": "RAW rows this run examined: those past the MART's watermark.",
        "rejected_this_run": "Of those, the rows a MART rule refused (recorded in `mart_rejects`).",
        "rejected_keys": "Keys with no accepted version, every version refused: not in the MART.",
        "duplicate_percentage": "Share of RAW rows that repeat a key (`duplicates_log`), in percent.",
        "preview": "The first rows of the MART as stored.",
        "first_rejects": "The first rows this run refused, with the rule each breaks.",
        **CHDB_REPAIRED,
    },
}

_KAFKA_PII = {
    "messages_sampled": "Messages read from the topic: the newest ones of each partition, up to `pii_sample_size`.",
    "topic_offsets": "The offsets the sample was read from and to, per partition.",
    "messages_with_clear_text_pii": "Sampled messages with a clear-text phone or email.",
    "first_offsets": "partition:offset of the first of them.",
}
_RAW_PII = {
    "rows_scanned": "RAW rows searched for a clear-text phone or email.",
    "rows_with_clear_text_pii": "RAW rows holding one (must be 0).",
    "set_aside_still_in_log": "Messages set aside for holding one that are still in the topic (`make purge-pii`).",
    "first_set_aside": "The first of them: partition:offset, field and reason.",
}
CHECK_KEYS: dict[tuple[Stage, str], dict[str, str]] = {
    (Stage.KAFKA_TOPIC, "no_clear_text_pii"): _KAFKA_PII,
    (Stage.CLICKHOUSE_RAW, "no_clear_text_pii"): _RAW_PII,
    (Stage.MART, "duplicate_share"): {
        "duplicate_percentage": "The latest `duplicates_log` share of RAW rows repeating a key, in percent.",
        "threshold_percent": "The share above which the check fails (`expectations`).",
        "total_rows": "RAW rows then.",
        "unique_keys": "Distinct keys among them.",
        "logged_at": "When that `duplicates_log` row was written: the MART's last run.",
    },
    (Stage.MART, "counts_reconcile"): {
        "valid_files": "Landing records now, less those the latest load set aside.",
        "rejected_files": "Records the latest load set aside.",
        "mongo_documents": "Documents in MongoDB.",
        "documents_without_record": "Documents whose file or line is gone from the landing zone: kept, counted apart.",
        "mongo_unique_keys": "Distinct keys in MongoDB.",
        "kafka_lag": "Messages RAW's consumer group has not stored yet.",
        "raw_rows": "RAW rows, business duplicates included.",
        "raw_unique_keys": "Distinct keys in RAW.",
        "mart_rows": "MART rows: one per accepted key.",
        "mart_rejected_keys": "RAW keys the MART refused with a recorded reason: they reconcile.",
        "unreconciled_keys": "The first keys that do not reconcile, with the stage and why.",
        "mart_rejected_examples": "The first keys the MART refused, with the reason.",
    },
    (Stage.MART, "stores_count"): {
        "stores": "Stores in the MART.",
        "by_network": "Stores per network found.",
        "expected": "Stores per network expected (`expectations`).",
    },
    (Stage.MART, "products_per_category"): {
        "products": "Products in the MART.",
        "by_category": "Products per category found.",
        "expected": "Products per category expected (`expectations`).",
    },
    (Stage.MART, "purchases_minimum"): {
        "purchases": "Purchases in the MART.",
        "minimum": "The fewest expected (`expectations`).",
    },
    (Stage.MART, "purchase_totals_match_lines"): {
        "purchases": "Purchases in the MART.",
        "totals_off": "Purchases whose total is not the sum of their lines' totals.",
        "first": "The first of them.",
    },
    (Stage.MART, "every_store_has_a_customer"): {
        "stores_without_customers": "Stores with fewer customers than the minimum.",
        "first": "The first of them.",
        "customers_without_store": "Customers whose store is unknown or ambiguous.",
        "first_customers_without_store": "The first of them.",
        "minimum": "Customers each store needs (`expectations`).",
    },
    (Stage.MART, "every_purchase_refers_to_known_entities"): {
        "purchases": "Purchases in the MART.",
        "purchases_with_unknown": "Purchases naming a store, customer or product the MARTs do not hold.",
        "unknown_store": "Of them, naming an unknown store.",
        "unknown_customer": "Naming an unknown customer.",
        "unknown_product": "Naming an unknown product in a line.",
        "first": "The first of them.",
    },
}


def glossary(entity: Entity, stage: Stage, checks: Iterable[str]) -> str:
    """Markdown: every metadata key of the asset of `entity` at `stage` and of its `checks`."""
    sections = [("Metadata", _for_entity(entity, ASSET_KEYS[stage]))]
    sections += [(f"Check `{name}`", CHECK_KEYS[stage, name]) for name in sorted(checks)]
    return "\n\n".join(
        f"**{title}**\n\n" + "\n".join(f"- `{key}`: {meaning}" for key, meaning in keys.items()) for title, keys in sections
    )


def _for_entity(entity: Entity, keys: dict[str, str]) -> dict[str, str]:
    """`keys` with each `{table}` key once per MART table of the entity (`_columns` for the further ones)."""
    described: dict[str, str] = {}
    for key, meaning in keys.items():
        tables = entity.marts if key == "{table}_rows" else entity.marts[1:] if "{table}" in key else ("",)
        described.update({key.format(table=t): meaning.format(table=t) for t in tables})
    return described
