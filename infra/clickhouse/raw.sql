-- RAW: one row per consumed Kafka message, the payload exactly as published (JSON text, PII
-- already encrypted). Business duplicates (the same key published twice) stay: they are what
-- duplicates_log measures. A re-delivered offset must not add a row: the loader resumes after
-- max(offset) per partition, and the sorting key (partition, offset) lets ReplacingMergeTree
-- collapse the copy that a race between two loaders could still insert (read with FINAL).
-- The projection `next_offsets` keeps max(offset) per partition of each part, so where the loader
-- resumes and where a MART run's range ends (queries/raw_next_offsets.sql) is read from a few
-- rows per part instead of a scan of RAW. A merge that collapses a re-delivered copy rebuilds it.
-- `source` is the message's source_id header (outbox.py): the record's source id, by which the MART
-- picks a key's winner.
CREATE TABLE IF NOT EXISTS {table:Identifier}
(
    topic       LowCardinality(String) COMMENT 'The Kafka topic the message was read from: the entity''s name',
    partition   UInt32 COMMENT 'The message''s Kafka partition',
    offset      UInt64 COMMENT 'The message''s Kafka offset in its partition; with partition, the row''s identity',
    key         String COMMENT 'The message key: the record''s natural key (store_id, id, customer_id or purchase_id)',
    source      String COMMENT 'The source_id header: the file name without .json, or <batch file name>/<line number>; empty from another producer',
    payload     String COMMENT 'The message value as published: the record as JSON text, phone and email Fernet-encrypted' CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When the RAW step inserted the row (UTC)',
    PROJECTION next_offsets (SELECT partition, max(offset) GROUP BY partition)
)
ENGINE = ReplacingMergeTree
ORDER BY (partition, offset)
SETTINGS deduplicate_merge_projection_mode = 'rebuild';

-- A RAW table created before `source` gains it in place; its rows keep '' (as from another producer).
ALTER TABLE {table:Identifier}
    ADD COLUMN IF NOT EXISTS source String COMMENT 'The source_id header: the file name without .json, or <batch file name>/<line number>; empty from another producer' AFTER key;
