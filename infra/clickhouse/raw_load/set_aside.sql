-- One batch's set-aside messages (raw_set_aside.sql), passed as JSON lines.
INSERT INTO raw_set_aside (entity, partition, offset, key, field, reason)
SELECT entity, partition, offset, key, field, reason
FROM format(JSONEachRow, 'entity String, partition UInt32, offset UInt64, key String, field String, reason String', {rows:String});
