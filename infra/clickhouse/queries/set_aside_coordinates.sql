-- Every set-aside message of an entity still in its topic (at or past each partition's log start,
-- `starts[i]` for `partitions[i]`).
WITH mapFromArrays({partitions:Array(UInt32)}, {starts:Array(UInt64)}) AS log_starts
SELECT partition, offset
FROM raw_set_aside FINAL
WHERE entity = {entity:String} AND offset >= log_starts[partition]
ORDER BY partition, offset
