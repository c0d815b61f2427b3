-- Kafka lag per entity, sampled by the RAW step (assets/raw.py), the one step that holds both Kafka
-- and ClickHouse: messages of the topic RAW's consumer group has not stored, as the step found them
-- when it started and as it left them, both written once it has loaded (a failed step writes none).
-- Between two RAW runs nothing is sampled: the figure is as old as the entity's last RAW run
-- (Grafana's lag panel shows the samples, not a live reading).
CREATE TABLE IF NOT EXISTS kafka_lag
(
    entity      LowCardinality(String) COMMENT 'The entity, whose topic has its name',
    phase       LowCardinality(String) COMMENT 'found: as the RAW step started; left: as it ended',
    lag         UInt64 COMMENT 'Messages of the topic past the offsets RAW''s consumer group committed, over all partitions',
    run_id      String COMMENT 'The Dagster run of the RAW step',
    measured_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When the step sampled it (UTC)'
)
ENGINE = MergeTree
ORDER BY (entity, measured_at);
