-- Every offset of the partition below `next_offset` is now in the MART or in mart_rejects.
INSERT INTO mart_watermarks (entity, partition, next_offset)
SELECT {entity:String}, {partition:UInt32}, {next_offset:UInt64};
