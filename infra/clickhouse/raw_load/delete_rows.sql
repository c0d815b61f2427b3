-- Remove the RAW rows at these Kafka coordinates (a mutation: RAW has a projection, which a
-- lightweight DELETE would refuse), waiting until it is done.
ALTER TABLE {table:Identifier} DELETE WHERE (partition, offset) IN {coordinates:Array(Tuple(UInt32, UInt64))}
SETTINGS mutations_sync = 1;
