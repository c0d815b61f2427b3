-- RAW rows whose payload holds a clear-text email or phone (patterns passed from pii.py).
SELECT countIf(match(payload, {email:String}) OR match(payload, {phone:String})), count()
FROM {table:Identifier}
