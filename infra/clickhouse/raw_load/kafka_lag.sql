-- A RAW run's two samples of its entity's Kafka lag (the table is kafka_lag.sql): as the step
-- found it when it started, and as it left it now.
INSERT INTO kafka_lag (entity, phase, lag, run_id, measured_at)
VALUES
    ({entity:String}, 'found', {found:UInt64}, {run_id:String}, {started_at:DateTime64(3, 'UTC')}),
    ({entity:String}, 'left', {left:UInt64}, {run_id:String}, now64(3));
