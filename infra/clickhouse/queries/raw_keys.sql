-- Every distinct key of a RAW table, in byte order (the order the document store sorts UTF-8 in).
SELECT DISTINCT key FROM {table:Identifier} ORDER BY key
