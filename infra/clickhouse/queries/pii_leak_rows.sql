-- The RAW rows whose payload holds a clear-text email or phone (patterns passed from pii_scan.py),
-- loaded before the RAW loader set such messages aside: what `make purge-pii` moves out of RAW.
SELECT partition, offset, key, payload
FROM {table:Identifier}
WHERE match(payload, {email:String}) OR match(payload, {phone:String})
ORDER BY partition, offset
