-- The rows of the same offsets for the entity's other MART tables (purchase_items_mart): those of
-- the versions its first table now holds, i.e. the lines of each purchase that accepted.sql kept
-- (or that a run which died after it kept). A purchase whose range winner lost to the version the
-- first table already held adds no lines. `key` is the natural key's column in both tables.
INSERT INTO {mart:Identifier}
SELECT * EXCEPT (_key, _reject_reason)
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  AND _offset IN (
      SELECT _offset
      FROM {first:Identifier} FINAL
      WHERE {key:Identifier} IN (
          SELECT key
          FROM {raw:Identifier}
          WHERE partition = {partition:UInt32} AND offset >= {lower:UInt64} AND offset < {upper:UInt64}
      )
        AND _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  );
