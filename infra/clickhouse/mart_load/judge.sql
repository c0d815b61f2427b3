-- First statement of a MART run over one RAW partition's offsets [lower, upper): the rows of the
-- entity's first checked view (`checked`: typed columns, RAW key and reject reason), evaluated once
-- into a temporary table of the client's session, which every later statement of the range reads
-- instead of parsing the payloads again. It lives in memory for one range (see mart_load.py); a
-- range redone after a crash judges its rows again. The filter on the checked view's RAW
-- coordinates is pushed down to the RAW table's sorting key (partition, offset).
-- Nearly every row reaches the last branch of the reason's multiIf, and short-circuit evaluation
-- would copy the payload column for each branch: evaluating every branch is twice as fast (no
-- rule can throw: the mart_* functions return a default for any input).
DROP TEMPORARY TABLE IF EXISTS mart_judged;

CREATE TEMPORARY TABLE mart_judged AS
SELECT *
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
SETTINGS short_circuit_function_evaluation = 'disable';
