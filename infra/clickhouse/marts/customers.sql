-- MART customers: one row per customer_id; see stores.sql for the deduplication and the
-- incremental load, which every mart shares. Phone and email stay Fernet ciphertext.
CREATE TABLE IF NOT EXISTS customers_mart
(
    customer_id              String,
    first_name               String,
    last_name                String,
    email                    String COMMENT 'Fernet ciphertext of the normalized email',
    phone                    String COMMENT 'Fernet ciphertext of the normalized phone',
    birth_date               Date32,
    gender                   LowCardinality(String),
    registration_date        DateTime('UTC'),
    is_loyalty_member        Bool,
    loyalty_card_number      String,
    store_id                 String COMMENT 'purchase_location.store_id: the customer''s store',
    city                     String,
    delivery_city            String,
    delivery_street          String,
    delivery_house           String,
    delivery_apartment       String,
    delivery_postal_code     String,
    preferred_language       LowCardinality(String),
    preferred_payment_method LowCardinality(String),
    receive_promotions       Bool,
    _partition               UInt32,
    _offset                  UInt64,
    _ingested_at             DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY customer_id;

INSERT INTO customers_mart
SELECT
    JSONExtractString(payload, 'customer_id') AS customer_id,
    lowerUTF8(trimBoth(JSONExtractString(payload, 'first_name'))) AS first_name,
    lowerUTF8(trimBoth(JSONExtractString(payload, 'last_name'))) AS last_name,
    JSONExtractString(payload, 'email'),
    JSONExtractString(payload, 'phone'),
    toDate32(parseDateTime64BestEffortOrZero(JSONExtractString(payload, 'birth_date'))) AS birth_date,
    lowerUTF8(JSONExtractString(payload, 'gender')),
    parseDateTimeBestEffortOrZero(JSONExtractString(payload, 'registration_date'), 'UTC') AS registration_date,
    JSONExtractBool(payload, 'is_loyalty_member'),
    JSONExtractString(payload, 'loyalty_card_number'),
    JSONExtractString(payload, 'purchase_location', 'store_id'),
    lowerUTF8(JSONExtractString(payload, 'purchase_location', 'city')),
    lowerUTF8(JSONExtractString(payload, 'delivery_address', 'city')),
    lowerUTF8(JSONExtractString(payload, 'delivery_address', 'street')),
    lowerUTF8(JSONExtractString(payload, 'delivery_address', 'house')),
    lowerUTF8(JSONExtractString(payload, 'delivery_address', 'apartment')),
    JSONExtractString(payload, 'delivery_address', 'postal_code'),
    lowerUTF8(JSONExtractString(payload, 'preferences', 'preferred_language')),
    lowerUTF8(JSONExtractString(payload, 'preferences', 'preferred_payment_method')),
    JSONExtractBool(payload, 'preferences', 'receive_promotions'),
    raw.partition,
    raw.offset,
    raw.ingested_at
FROM customers_raw AS raw
LEFT JOIN (SELECT _partition, max(_offset) + 1 AS next_offset FROM customers_mart GROUP BY _partition) AS taken
    ON raw.partition = taken._partition
WHERE raw.offset >= taken.next_offset
  AND customer_id != ''
  AND first_name != ''
  AND last_name != ''
  AND birth_date BETWEEN '1900-01-01' AND today()
  AND registration_date BETWEEN toDateTime('1970-01-02', 'UTC') AND now();
