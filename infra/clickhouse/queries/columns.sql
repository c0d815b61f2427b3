-- A table's columns as the catalog shows them: name, type and the comment the DDL gives it.
SELECT name, type, comment FROM system.columns
WHERE database = currentDatabase() AND table = {table:String}
ORDER BY position
