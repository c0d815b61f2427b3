-- First statement of a MART run over one RAW partition's offsets [lower, upper): the rows that
-- break a rule, into mart_rejects with the first rule broken. The filter on the checked view's
-- RAW coordinates is pushed down to the RAW table's sorting key (partition, offset).
-- Nearly every row reaches the last branch of the reason's multiIf, and short-circuit evaluation
-- would copy the payload column for each branch: evaluating every branch is twice as fast (no
-- rule can throw: the mart_* functions return a default for any input).
INSERT INTO mart_rejects (entity, key, partition, offset, reason, run_id)
SELECT {entity:String}, _key, _partition, _offset, _reject_reason, {run_id:String}
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  AND _reject_reason != ''
SETTINGS short_circuit_function_evaluation = 'disable';
