-- The set-aside messages of an entity still in its topic (at or past each partition's log start,
-- `starts[i]` for `partitions[i]`): how many, and the first ones as (partition, offset, field, reason).
WITH mapFromArrays({partitions:Array(UInt32)}, {starts:Array(UInt64)}) AS log_starts
SELECT count(), groupArray({limit:UInt32})((partition, offset, field, reason))
FROM (
    SELECT partition, offset, field, reason
    FROM raw_set_aside FINAL
    WHERE entity = {entity:String} AND offset >= log_starts[partition]
    ORDER BY partition, offset
)
