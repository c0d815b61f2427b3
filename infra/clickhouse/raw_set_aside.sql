-- The Kafka messages the RAW loader set aside instead of loading (raw_load.py): one row per message
-- holding a clear-text phone or email (another producer's, or one an older version published),
-- with the field and why, never the value. A re-delivered message replaces its row (read with
-- FINAL). `make purge-pii` removes such messages from the log; the rows stay as the record.
CREATE TABLE IF NOT EXISTS raw_set_aside
(
    entity       LowCardinality(String) COMMENT 'The entity (topic) of the message set aside',
    partition    UInt32 COMMENT 'The message''s Kafka partition',
    offset       UInt64 COMMENT 'The message''s Kafka offset: with entity and partition, the message''s identity',
    key          String COMMENT 'the message key, empty when the key itself holds a phone or email',
    field        String COMMENT 'Where the clear-text phone or email is, as items[2].phone, (key) for the key',
    reason       String COMMENT 'Why the message was set aside; never the value',
    set_aside_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When the RAW step set it aside (UTC)'
)
ENGINE = ReplacingMergeTree
ORDER BY (entity, partition, offset);
