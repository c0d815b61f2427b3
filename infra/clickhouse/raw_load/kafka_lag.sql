-- One sample of an entity's Kafka lag (the table is kafka_lag.sql).
INSERT INTO kafka_lag (entity, phase, lag, run_id)
VALUES ({entity:String}, {phase:String}, {lag:UInt64}, {run_id:String});
