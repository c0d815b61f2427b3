-- Whether the RAW table is to be read again from the start of its topic (raw_reloads.sql).
SELECT count() > 0 FROM raw_reloads WHERE raw_table = {table:String}
