-- The RAW table holds its whole topic again (raw_reloads.sql).
DELETE FROM raw_reloads WHERE raw_table = {table:String};
