-- The range's rows that break a rule (mart_judged, judge.sql), into mart_rejects with the first
-- rule broken.
INSERT INTO mart_rejects (entity, key, partition, offset, reason, run_id)
SELECT {entity:String}, _key, _partition, _offset, _reject_reason, {run_id:String}
FROM mart_judged
WHERE _reject_reason != '';
