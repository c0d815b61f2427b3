-- The rows of the same offsets for the entity's second MART table (purchase_items_mart): the lines
-- of the versions its first table now holds, i.e. of each purchase that accepted.sql kept (or that
-- a run which died after it kept). A purchase whose range winner lost to the version the first
-- table already held adds no lines. The lines come typed in the judged rows (`_lines`, one tuple
-- of the table's columns per line, see marts/purchases.sql): no payload is parsed again. Each
-- line keeps its purchase's key (`key`, the natural key's column in both tables) and RAW
-- coordinates, and is numbered from 1. GLOBAL IN as in accepted.sql: on a cluster the keys are
-- sent to the shards of the first table.
INSERT INTO {mart:Identifier}
SELECT {key:Identifier}, line_no, untuple(line), _partition, _offset
FROM mart_judged
ARRAY JOIN _lines AS line, arrayEnumerate(_lines) AS line_no
WHERE _reject_reason = ''
  AND _offset IN (
      SELECT _offset
      FROM {first:Identifier} FINAL
      WHERE {key:Identifier} GLOBAL IN (SELECT _key FROM mart_judged WHERE _reject_reason = '')
        AND _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  );
