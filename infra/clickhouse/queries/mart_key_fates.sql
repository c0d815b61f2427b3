-- Every RAW key of an entity by its fate in the MART, with the number of keys and up to {limit}
-- examples (key, latest recorded reason) per fate:
--   kept        a MART row comes from one of its RAW rows;
--   not judged  one of its RAW rows is at or above the entity's watermark (the MART has not run since);
--   rejected    mart_rejects says why it has no MART row;
--   unexplained nothing says why.
WITH (
    SELECT CAST(groupArray((partition, next_offset)), 'Map(UInt32, UInt64)')
    FROM mart_watermarks FINAL
    WHERE entity = {entity:String}
) AS watermarks
SELECT
    multiIf(kept, 'kept', not_judged, 'not judged', reason != '', 'rejected', 'unexplained') AS fate,
    count() AS keys,
    groupArray({limit:UInt32})((key, reason)) AS examples
FROM
(
    SELECT
        key,
        max((partition, offset) IN (SELECT _partition, _offset FROM {mart_table:Identifier} FINAL)) AS kept,
        max(offset >= watermarks[partition]) AS not_judged
    FROM {raw_table:Identifier}
    GROUP BY key
) AS raw_keys
LEFT JOIN
(
    SELECT key, argMax(reason, (partition, offset)) AS reason
    FROM mart_rejects FINAL
    WHERE entity = {entity:String}
    GROUP BY key
) AS rejected USING (key)
GROUP BY fate
