-- Which of the named tables exist.
SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN {tables:Array(String)}
