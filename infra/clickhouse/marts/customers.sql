-- MART customers: one row per customer_id; see stores.sql for the deduplication and the checked
-- view, which every mart shares. Phone and email stay Fernet ciphertext.
CREATE TABLE IF NOT EXISTS customers_mart
(
    customer_id              String COMMENT 'The customer''s natural key (cus-1000…), the Kafka message key',
    first_name               String COMMENT 'Trimmed, lower-cased',
    last_name                String COMMENT 'Trimmed, lower-cased',
    email                    String COMMENT 'Fernet ciphertext of the normalized email',
    phone                    String COMMENT 'Fernet ciphertext of the normalized phone',
    birth_date               Date32 COMMENT 'Within [1900-01-01, the day the row reached RAW]',
    gender                   LowCardinality(String) COMMENT 'Lower-cased, as given',
    registration_date        DateTime('UTC') COMMENT 'When the customer registered (UTC), within [1970-01-02, the moment the row reached RAW]',
    is_loyalty_member        Bool COMMENT 'false when absent',
    loyalty_card_number      String COMMENT 'As given; empty when none',
    store_id                 String COMMENT 'purchase_location.store_id: the customer''s store, when given',
    city                     String COMMENT 'purchase_location.city',
    street                   String COMMENT 'purchase_location.street',
    house                    String COMMENT 'purchase_location.house',
    postal_code              String COMMENT 'purchase_location.postal_code',
    delivery_city            String COMMENT 'delivery_address.city, lower-cased',
    delivery_street          String COMMENT 'delivery_address.street, lower-cased',
    delivery_house           String COMMENT 'delivery_address.house, lower-cased',
    delivery_apartment       String COMMENT 'delivery_address.apartment, lower-cased',
    delivery_postal_code     String COMMENT 'delivery_address.postal_code',
    preferred_language       LowCardinality(String) COMMENT 'preferences.preferred_language, lower-cased',
    preferred_payment_method LowCardinality(String) COMMENT 'preferences.preferred_payment_method, lower-cased',
    receive_promotions       Bool COMMENT 'preferences.receive_promotions; false when absent',
    _partition               UInt32 COMMENT 'RAW partition (the Kafka partition) of the version kept',
    _offset                  UInt64 COMMENT 'RAW offset of the version kept: the ReplacingMergeTree version, the highest wins (read with FINAL)',
    _ingested_at             DateTime64(3, 'UTC') COMMENT 'When the version kept reached RAW (UTC); the rules'' "now" and "today"',
    _updated_at              DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)',
    _source                  String COMMENT 'The source id of the row (RAW source; see mart_version)'
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY customer_id;

-- A customers_mart from before the winner's columns gains them in place, as stores_mart does.
ALTER TABLE customers_mart
    ADD COLUMN IF NOT EXISTS _updated_at DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)' AFTER _ingested_at,
    ADD COLUMN IF NOT EXISTS _source String COMMENT 'The source id of the row (RAW source; see mart_version)' AFTER _updated_at;

-- A customers_mart created before the address columns gains them in place, where CREATE puts
-- them: the MART step inserts the checked view's columns by position. Rows loaded before keep ''.
ALTER TABLE customers_mart
    ADD COLUMN IF NOT EXISTS street String COMMENT 'purchase_location.street' AFTER city,
    ADD COLUMN IF NOT EXISTS house String COMMENT 'purchase_location.house' AFTER street,
    ADD COLUMN IF NOT EXISTS postal_code String COMMENT 'purchase_location.postal_code' AFTER house;

-- "today" and "now" are the moment the row reached RAW, so a row's verdict never changes.
CREATE OR REPLACE VIEW customers_mart_checked AS
WITH
    mart_fields(payload) AS fields,
    mart_timestamp(fields['birth_date']) AS born_at,
    mart_timestamp(fields['registration_date']) AS registered_at
SELECT
    JSONExtractString(fields['customer_id']) AS customer_id,
    lowerUTF8(trimBoth(JSONExtractString(fields['first_name']))) AS first_name,
    lowerUTF8(trimBoth(JSONExtractString(fields['last_name']))) AS last_name,
    JSONExtractString(fields['email']) AS email,
    JSONExtractString(fields['phone']) AS phone,
    toDate32(born_at) AS birth_date,
    lowerUTF8(JSONExtractString(fields['gender'])) AS gender,
    toDateTime(registered_at, 'UTC') AS registration_date,
    mart_bool(fields['is_loyalty_member']) AS is_loyalty_member,
    JSONExtractString(fields['loyalty_card_number']) AS loyalty_card_number,
    JSONExtractString(fields['purchase_location'], 'store_id') AS store_id,
    lowerUTF8(JSONExtractString(fields['purchase_location'], 'city')) AS city,
    lowerUTF8(JSONExtractString(fields['purchase_location'], 'street')) AS street,
    lowerUTF8(JSONExtractString(fields['purchase_location'], 'house')) AS house,
    JSONExtractString(fields['purchase_location'], 'postal_code') AS postal_code,
    lowerUTF8(JSONExtractString(fields['delivery_address'], 'city')) AS delivery_city,
    lowerUTF8(JSONExtractString(fields['delivery_address'], 'street')) AS delivery_street,
    lowerUTF8(JSONExtractString(fields['delivery_address'], 'house')) AS delivery_house,
    lowerUTF8(JSONExtractString(fields['delivery_address'], 'apartment')) AS delivery_apartment,
    JSONExtractString(fields['delivery_address'], 'postal_code') AS delivery_postal_code,
    lowerUTF8(JSONExtractString(fields['preferences'], 'preferred_language')) AS preferred_language,
    lowerUTF8(JSONExtractString(fields['preferences'], 'preferred_payment_method')) AS preferred_payment_method,
    mart_bool(JSONExtractRaw(fields['preferences'], 'receive_promotions')) AS receive_promotions,
    raw.partition AS _partition,
    raw.offset AS _offset,
    raw.ingested_at AS _ingested_at,
    mart_updated_at(fields['updated_at']) AS _updated_at,
    raw.source AS _source,
    raw.key AS _key,
    multiIf(
        JSONType(payload) != 'Object', mart_payload_reason(payload),
        NOT mart_is_text(fields['customer_id']), 'customer_id: missing, not a string or blank',
        customer_id != raw.key, 'customer_id: differs from the Kafka message key',
        NOT mart_is_text(fields['first_name']), 'first_name: missing, not a string or blank',
        NOT mart_is_text(fields['last_name']), 'last_name: missing, not a string or blank',
        mart_outside(toDate32(born_at), toDate32('1900-01-01'), toDate32(raw.ingested_at)),
            'birth_date: missing, unparseable or outside [1900-01-01, today]',
        mart_outside(registered_at, toDateTime64('1970-01-02', 3, 'UTC'), raw.ingested_at),
            'registration_date: missing, unparseable or outside [1970-01-02, now]',
        mart_bad_updated_at(fields['updated_at'], raw.ingested_at), 'updated_at: unparseable or outside [1970-01-02, now]',
        ''
    ) AS _reject_reason
FROM customers_raw AS raw;
