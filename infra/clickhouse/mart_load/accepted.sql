-- The other rows of the same offsets, into one MART table (`checked` is that table's
-- `<mart>_checked` view, whose columns match it one for one). "Not rejected by this run" rather
-- than "_reject_reason = ''": the rules are evaluated once, by rejected.sql, and every RAW row of
-- the range lands either here or in mart_rejects, never in both, never in neither. Both sides
-- read through their sorting keys: RAW's (partition, offset) and mart_rejects' (entity, partition, offset).
INSERT INTO {mart:Identifier}
SELECT * EXCEPT (_key, _reject_reason)
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  AND (_partition, _offset) NOT IN (
      SELECT partition, offset
      FROM mart_rejects
      WHERE entity = {entity:String} AND run_id = {run_id:String}
        AND partition = {partition:UInt32} AND offset >= {lower:UInt64} AND offset < {upper:UInt64}
  );
