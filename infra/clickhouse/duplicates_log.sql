-- One row per entity per MART run: how many RAW rows repeat a key that RAW already holds.
CREATE TABLE IF NOT EXISTS duplicates_log
(
    entity               LowCardinality(String),
    total_rows           UInt64,
    unique_keys          UInt64,
    duplicate_percentage Float64,
    timestamp            DateTime64(3, 'UTC'),
    run_id               String
)
ENGINE = MergeTree
ORDER BY (entity, timestamp);

INSERT INTO duplicates_log
SELECT
    {entity:String},
    count() AS total_rows,
    uniqExact(key) AS unique_keys,
    if(total_rows = 0, 0, round(100 * (total_rows - unique_keys) / total_rows, 2)),
    now64(3),
    {run_id:String}
FROM {raw_table:Identifier} FINAL;
