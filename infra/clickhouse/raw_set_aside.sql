-- The Kafka messages the RAW loader set aside instead of loading (raw_load.py): one row per message
-- holding a clear-text phone or email (another producer's, or one an older version published),
-- with the field and why, never the value. A re-delivered message replaces its row (read with
-- FINAL). `make purge-pii` removes such messages from the log; the rows stay as the record.
CREATE TABLE IF NOT EXISTS raw_set_aside
(
    entity       LowCardinality(String),
    partition    UInt32,
    offset       UInt64,
    key          String COMMENT 'the message key, empty when the key itself holds a phone or email',
    field        String,
    reason       String,
    set_aside_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (entity, partition, offset);
