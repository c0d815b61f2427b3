-- chDB's repair re-created a MART table of these entities (or mart_rejects) without its rows: their
-- next MART run judges all of RAW again, which re-writes every row it had written (mart_load.py).
-- A lightweight DELETE: mart_watermarks is read with FINAL, which leaves deleted rows out.
DELETE FROM mart_watermarks WHERE entity IN {entities:Array(String)};
