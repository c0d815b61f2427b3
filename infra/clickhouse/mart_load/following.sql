-- The rows of the same offsets for the entity's other MART tables (purchase_items_mart): those of
-- the versions its first table now holds, i.e. the lines of each purchase that accepted.sql kept
-- (or that a run which died after it kept). A purchase whose range winner lost to the version the
-- first table already held adds no lines. `key` is the natural key's column in both tables.
-- `checked` (purchase_items_mart_checked) reads RAW: only the winners' payloads are parsed again,
-- for their lines, which mart_judged does not hold. GLOBAL IN as in accepted.sql: on a cluster
-- both sets are made here and sent to the shards.
INSERT INTO {mart:Identifier}
SELECT * EXCEPT (_key, _reject_reason)
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  AND _offset GLOBAL IN (
      SELECT _offset
      FROM {first:Identifier} FINAL
      WHERE {key:Identifier} GLOBAL IN (SELECT _key FROM mart_judged WHERE _reject_reason = '')
        AND _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  );
