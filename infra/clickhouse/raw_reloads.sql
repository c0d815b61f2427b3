-- The RAW tables to read again from the start of their topic: chDB's repair
-- (resources/chdb_repair.py) adds one when it re-created a RAW table (or raw_set_aside) without its
-- rows. The RAW loader (raw_load.py) then reads the whole topic, the redelivery guard keeping what
-- RAW still holds, and removes the row once every message is stored.
CREATE TABLE IF NOT EXISTS raw_reloads
(
    raw_table    String,
    requested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY raw_table;
