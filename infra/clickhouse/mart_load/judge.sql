-- First statement of a MART run over one RAW partition's offsets [lower, upper): the rows of the
-- entity's first checked view (`checked`: typed columns, RAW key and reject reason), evaluated once
-- into a temporary table of the client's session, which every later statement of the range reads
-- instead of parsing the payloads again. It lives in memory for one range (see mart_load.py); a
-- range redone after a crash judges its rows again. The filter on the checked view's RAW
-- coordinates is pushed down to the RAW table's sorting key (partition, offset).
-- Nearly every row reaches the last branch of the reason's multiIf, and short-circuit evaluation
-- would copy the payload column for each branch: evaluating every branch is twice as fast (no
-- rule can throw: the mart_* functions return a default for any input).
-- A range (at most 65,536 offsets) holds fewer rows and bytes than ClickHouse's defaults for
-- reading one part in several streams (163,840 rows, 240 MiB), so a range within one part was
-- judged on one core; read in streams from a granule (8,192 rows) or 1 MiB up, it is judged on
-- max_threads cores (1.8x faster on 2 in chDB, test_mart_incremental checks the streams).
DROP TEMPORARY TABLE IF EXISTS mart_judged;

CREATE TEMPORARY TABLE mart_judged AS
SELECT *
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
SETTINGS short_circuit_function_evaluation = 'disable',
    merge_tree_min_rows_for_concurrent_read = 8192, merge_tree_min_bytes_for_concurrent_read = 1048576;
