-- MART stores: typed, cleaned, one row per store_id. ReplacingMergeTree keeps the row with the
-- highest Kafka offset per key (a key always lands on the same partition, so its offsets are
-- ordered); the duplicates are gone only after parts merge, so read it with FINAL.
-- Each run inserts only the RAW offsets above the ones already taken (per partition): re-runs
-- add nothing, and rows refused by the rules are refused again, never half-loaded.
CREATE TABLE IF NOT EXISTS stores_mart
(
    store_id               String,
    store_name             String,
    store_network          LowCardinality(String),
    store_type_description String,
    store_type             LowCardinality(String),
    categories             Array(String),
    manager_name           String,
    manager_phone          String COMMENT 'Fernet ciphertext of the normalized phone',
    manager_email          String COMMENT 'Fernet ciphertext of the normalized email',
    country                LowCardinality(String),
    city                   String,
    street                 String,
    house                  String,
    postal_code            String,
    latitude               Float64,
    longitude              Float64,
    accepts_online_orders  Bool,
    delivery_available     Bool,
    warehouse_connected    Bool,
    last_inventory_date    Date,
    _partition             UInt32,
    _offset                UInt64,
    _ingested_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY store_id;

INSERT INTO stores_mart
SELECT
    JSONExtractString(payload, 'store_id') AS store_id,
    lowerUTF8(trimBoth(JSONExtractString(payload, 'store_name'))) AS store_name,
    lowerUTF8(JSONExtractString(payload, 'store_network')),
    lowerUTF8(JSONExtractString(payload, 'store_type_description')),
    lowerUTF8(JSONExtractString(payload, 'type')),
    arrayMap(c -> lowerUTF8(c), JSONExtract(payload, 'categories', 'Array(String)')),
    lowerUTF8(JSONExtractString(payload, 'manager', 'name')),
    JSONExtractString(payload, 'manager', 'phone'),
    JSONExtractString(payload, 'manager', 'email'),
    lowerUTF8(JSONExtractString(payload, 'location', 'country')),
    lowerUTF8(JSONExtractString(payload, 'location', 'city')),
    lowerUTF8(JSONExtractString(payload, 'location', 'street')),
    lowerUTF8(JSONExtractString(payload, 'location', 'house')),
    JSONExtractString(payload, 'location', 'postal_code'),
    JSONExtractFloat(payload, 'location', 'coordinates', 'latitude'),
    JSONExtractFloat(payload, 'location', 'coordinates', 'longitude'),
    JSONExtractBool(payload, 'accepts_online_orders'),
    JSONExtractBool(payload, 'delivery_available'),
    JSONExtractBool(payload, 'warehouse_connected'),
    toDate(parseDateTimeBestEffortOrZero(JSONExtractString(payload, 'last_inventory_date'))) AS last_inventory_date,
    raw.partition,
    raw.offset,
    raw.ingested_at
FROM stores_raw AS raw
LEFT JOIN (SELECT _partition, max(_offset) + 1 AS next_offset FROM stores_mart GROUP BY _partition) AS taken
    ON raw.partition = taken._partition
WHERE raw.offset >= taken.next_offset
  AND store_id != ''
  AND store_name != ''
  AND last_inventory_date BETWEEN '1970-01-02' AND today();
