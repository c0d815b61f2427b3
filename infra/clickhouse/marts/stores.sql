-- MART stores: typed, cleaned, one row per store_id: of the store's versions that pass the rules,
-- the winner by mart_version (mart_common.sql: latest updated_at, then greatest source id, then
-- highest offset). mart_load/accepted.sql inserts a version only when it wins over the row the
-- table holds, and always at a higher offset than that row (a key always lands on the same RAW
-- partition, and each run reads offsets past the last), so ReplacingMergeTree(_offset) keeps the
-- winner. The replaced rows are gone only after parts merge, so read it with FINAL.
CREATE TABLE IF NOT EXISTS stores_mart
(
    store_id               String COMMENT 'The store''s natural key (store-001…), the Kafka message key',
    store_name             String COMMENT 'Trimmed, lower-cased',
    store_network          LowCardinality(String) COMMENT 'The chain the store belongs to: almost or maybe (lower-cased)',
    store_type_description String COMMENT 'Free text describing the store type (lower-cased)',
    store_type             LowCardinality(String) COMMENT 'The source''s type field, lower-cased',
    categories             Array(String) COMMENT 'The product categories the store sells, lower-cased',
    manager_name           String COMMENT 'manager.name, lower-cased',
    manager_phone          String COMMENT 'Fernet ciphertext of the normalized phone',
    manager_email          String COMMENT 'Fernet ciphertext of the normalized email',
    country                LowCardinality(String) COMMENT 'location.country, lower-cased',
    city                   String COMMENT 'location.city, lower-cased',
    street                 String COMMENT 'location.street, lower-cased',
    house                  String COMMENT 'location.house, lower-cased',
    postal_code            String COMMENT 'location.postal_code',
    latitude               Float64 COMMENT 'location.coordinates.latitude; 0 when absent',
    longitude              Float64 COMMENT 'location.coordinates.longitude; 0 when absent',
    accepts_online_orders  Bool COMMENT 'false when absent',
    delivery_available     Bool COMMENT 'false when absent',
    warehouse_connected    Bool COMMENT 'false when absent',
    last_inventory_date    Date COMMENT 'The last stocktaking day, within [1970-01-02, the day the row reached RAW]',
    _partition             UInt32 COMMENT 'RAW partition (the Kafka partition) of the version kept',
    _offset                UInt64 COMMENT 'RAW offset of the version kept: the ReplacingMergeTree version, the highest wins (read with FINAL)',
    _ingested_at           DateTime64(3, 'UTC') COMMENT 'When the version kept reached RAW (UTC); the rules'' "now" and "today"',
    _updated_at            DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)',
    _source                String COMMENT 'The source id of the row (RAW source; see mart_version)'
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY store_id;

-- A stores_mart created before the winner's columns gains them in place, where CREATE puts them
-- (the MART step inserts the checked view's columns by position). Rows loaded before keep the
-- oldest updated_at and source '', so the next accepted version of their key replaces them.
ALTER TABLE stores_mart
    ADD COLUMN IF NOT EXISTS _updated_at DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)' AFTER _ingested_at,
    ADD COLUMN IF NOT EXISTS _source String COMMENT 'The source id of the row (RAW source; see mart_version)' AFTER _updated_at;

-- The stores rules, written once. One row per RAW row, typed as stores_mart (same columns, same
-- order), then its RAW key and the first rule it breaks ('' when none). The MART step
-- (mart_load/) loads the rows without a reason into stores_mart and records the others in
-- mart_rejects. "today" is the day the row reached RAW, so a row's verdict never changes.
CREATE OR REPLACE VIEW stores_mart_checked AS
WITH
    mart_fields(payload) AS fields,
    mart_timestamp(fields['last_inventory_date']) AS inventoried_at
SELECT
    JSONExtractString(fields['store_id']) AS store_id,
    lowerUTF8(trimBoth(JSONExtractString(fields['store_name']))) AS store_name,
    lowerUTF8(JSONExtractString(fields['store_network'])) AS store_network,
    lowerUTF8(JSONExtractString(fields['store_type_description'])) AS store_type_description,
    lowerUTF8(JSONExtractString(fields['type'])) AS store_type,
    arrayMap(c -> lowerUTF8(c), JSONExtract(fields['categories'], 'Array(String)')) AS categories,
    lowerUTF8(JSONExtractString(fields['manager'], 'name')) AS manager_name,
    JSONExtractString(fields['manager'], 'phone') AS manager_phone,
    JSONExtractString(fields['manager'], 'email') AS manager_email,
    lowerUTF8(JSONExtractString(fields['location'], 'country')) AS country,
    lowerUTF8(JSONExtractString(fields['location'], 'city')) AS city,
    lowerUTF8(JSONExtractString(fields['location'], 'street')) AS street,
    lowerUTF8(JSONExtractString(fields['location'], 'house')) AS house,
    JSONExtractString(fields['location'], 'postal_code') AS postal_code,
    JSONExtractFloat(fields['location'], 'coordinates', 'latitude') AS latitude,
    JSONExtractFloat(fields['location'], 'coordinates', 'longitude') AS longitude,
    mart_bool(fields['accepts_online_orders']) AS accepts_online_orders,
    mart_bool(fields['delivery_available']) AS delivery_available,
    mart_bool(fields['warehouse_connected']) AS warehouse_connected,
    toDate(inventoried_at) AS last_inventory_date,
    raw.partition AS _partition,
    raw.offset AS _offset,
    raw.ingested_at AS _ingested_at,
    mart_updated_at(fields['updated_at']) AS _updated_at,
    raw.source AS _source,
    raw.key AS _key,
    multiIf(
        JSONType(payload) != 'Object', mart_payload_reason(payload),
        NOT mart_is_text(fields['store_id']), 'store_id: missing, not a string or blank',
        store_id != raw.key, 'store_id: differs from the Kafka message key',
        NOT mart_is_text(fields['store_name']), 'store_name: missing, not a string or blank',
        mart_outside(toDate32(inventoried_at), toDate32('1970-01-02'), toDate32(raw.ingested_at)),
            'last_inventory_date: missing, unparseable or outside [1970-01-02, today]',
        mart_bad_updated_at(fields['updated_at'], raw.ingested_at), 'updated_at: unparseable or outside [1970-01-02, now]',
        ''
    ) AS _reject_reason
FROM stores_raw AS raw;
