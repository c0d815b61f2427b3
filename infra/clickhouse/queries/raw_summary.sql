-- Rows and distinct keys in a RAW table, each re-delivered offset counted once.
SELECT count(), uniqExact(key) FROM {table:Identifier} FINAL
