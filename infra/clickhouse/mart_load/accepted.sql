-- The other rows of the same offsets, into the entity's first MART table (`checked` is its
-- `<mart>_checked` view, whose columns match it one for one): per key, only the range's winner by
-- mart_version (mart_common.sql), and only when it is at least as good as the row the table holds
-- for that key now. "Not rejected by this run" rather than "_reject_reason = ''": the rules are
-- evaluated once, by rejected.sql, and every RAW row of the range is either recorded there or
-- accepted here, as the winner or superseded by a better version of its key.
--
-- A key always lands on one RAW partition (the rules reject a row whose key is not its message
-- key) and each run reads offsets past those of the runs before, so a winner inserted here always
-- has a higher offset than the row it replaces, and ReplacingMergeTree(_offset) keeps it. A range
-- redone after a crash inserts the same rows again: the same winners (or, over a longer range,
-- better ones at higher offsets), which the table collapses.
--
-- RAW is read through its sorting key (partition, offset), mart_rejects through (entity, partition,
-- offset), the MART through its key: only the keys of the range, found in RAW's `key` column.
INSERT INTO {mart:Identifier}
SELECT * EXCEPT (_key, _reject_reason)
FROM {checked:Identifier}
WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
  AND _offset IN (
      SELECT argMax(candidate._offset, candidate.version)
      FROM (
          SELECT _key, _offset, mart_version(_updated_at, _source, _offset) AS version
          FROM {checked:Identifier}
          WHERE _partition = {partition:UInt32} AND _offset >= {lower:UInt64} AND _offset < {upper:UInt64}
            AND (_partition, _offset) NOT IN (
                SELECT partition, offset
                FROM mart_rejects
                WHERE entity = {entity:String} AND run_id = {run_id:String}
                  AND partition = {partition:UInt32} AND offset >= {lower:UInt64} AND offset < {upper:UInt64}
            )
      ) AS candidate
      LEFT JOIN (
          SELECT {key:Identifier} AS _key, mart_version(_updated_at, _source, _offset) AS version
          FROM {mart:Identifier} FINAL
          WHERE {key:Identifier} IN (
              SELECT key
              FROM {raw:Identifier}
              WHERE partition = {partition:UInt32} AND offset >= {lower:UInt64} AND offset < {upper:UInt64}
          )
      ) AS held USING (_key)
      GROUP BY _key
      -- A key the table does not hold joins the default tuple, older than any version.
      HAVING max(candidate.version) >= any(held.version)
  )
SETTINGS join_use_nulls = 0;
