-- The range's rows that break no rule (mart_judged, judge.sql, whose columns are the first MART
-- table's, then the RAW key and the reason, and for purchases their typed lines before them), into
-- the entity's first MART table: per key, only the range's winner by mart_version
-- (mart_common.sql), and only when it is at least as good as the row the table holds for that key
-- now. rejected.sql recorded the others from the same judgement, so every RAW row of the range is
-- either recorded there or accepted here, as the winner or superseded by a better version of its
-- key. (`EXCEPT` leaves out the columns it finds: only purchases have `_lines`.)
--
-- A key always lands on one RAW partition (the rules reject a row whose key is not its message
-- key) and each run reads offsets past those of the runs before, so a winner inserted here always
-- has a higher offset than the row it replaces, and ReplacingMergeTree(_offset) keeps it. A range
-- redone after a crash inserts the same rows again: the same winners (or, over a longer range,
-- better ones at higher offsets), which the table collapses.
--
-- The MART is read through its key: only the keys of the range. GLOBAL IN: on a cluster, where
-- the MART is a Distributed table, the shards receive the keys rather than a subquery over a
-- temporary table that only this session holds.
INSERT INTO {mart:Identifier}
SELECT * EXCEPT (_lines, _key, _reject_reason)
FROM mart_judged
WHERE _offset IN (
    SELECT argMax(candidate._offset, candidate.version)
    FROM (
        SELECT _key, _offset, mart_version(_updated_at, _source, _offset) AS version
        FROM mart_judged
        WHERE _reject_reason = ''
    ) AS candidate
    LEFT JOIN (
        SELECT {key:Identifier} AS _key, mart_version(_updated_at, _source, _offset) AS version
        FROM {mart:Identifier} FINAL
        WHERE {key:Identifier} GLOBAL IN (SELECT _key FROM mart_judged)
    ) AS held USING (_key)
    GROUP BY _key
    -- A key the table does not hold joins the default tuple, older than any version.
    HAVING max(candidate.version) >= any(held.version)
)
SETTINGS join_use_nulls = 0;
