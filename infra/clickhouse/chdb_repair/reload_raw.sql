-- chDB's repair re-created these RAW tables (or raw_set_aside) without their rows: their next RAW
-- run reads the whole topic again (raw_reloads.sql).
INSERT INTO raw_reloads (raw_table)
SELECT arrayJoin({tables:Array(String)});
