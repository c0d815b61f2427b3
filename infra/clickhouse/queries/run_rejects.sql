-- What one MART run rejected: the first rows in RAW order, each with the run's total.
SELECT key, partition, offset, reason, count() OVER () AS total
FROM mart_rejects FINAL
WHERE entity = {entity:String} AND run_id = {run_id:String}
ORDER BY partition, offset
LIMIT {limit:UInt32}
