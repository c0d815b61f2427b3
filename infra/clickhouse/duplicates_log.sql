-- This MART run's row of duplicates_log (the table is in mart_common.sql): how many RAW rows
-- repeat a key that RAW already holds.
INSERT INTO duplicates_log
SELECT
    {entity:String},
    count() AS total_rows,
    uniqExact(key) AS unique_keys,
    if(total_rows = 0, 0, round(100 * (total_rows - unique_keys) / total_rows, 2)),
    now64(3),
    {run_id:String}
FROM {raw_table:Identifier} FINAL;
