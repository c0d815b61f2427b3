SELECT total_rows, unique_keys, duplicate_percentage, timestamp
FROM duplicates_log
WHERE entity = {entity:String}
ORDER BY timestamp DESC
LIMIT 1
