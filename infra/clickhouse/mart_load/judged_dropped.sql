-- The range's judged rows are in the MART tables and mart_rejects: free their memory before the next range.
DROP TEMPORARY TABLE IF EXISTS mart_judged;
