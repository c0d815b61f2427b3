-- MART products: one row per product id; see stores.sql for the deduplication and the checked
-- view, which every mart shares.
CREATE TABLE IF NOT EXISTS products_mart
(
    product_id           String,
    name                 String,
    category             LowCardinality(String),
    description          String,
    calories             Float64,
    protein              Float64,
    fat                  Float64,
    carbohydrates        Float64,
    price                Decimal(12, 2),
    unit                 LowCardinality(String),
    origin_country       LowCardinality(String),
    expiry_days          UInt16,
    is_organic           Bool,
    barcode              String,
    manufacturer_name    String,
    manufacturer_country LowCardinality(String),
    manufacturer_website String,
    manufacturer_inn     String,
    _partition           UInt32,
    _offset              UInt64,
    _ingested_at         DateTime64(3, 'UTC'),
    _updated_at          DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)',
    _source              String COMMENT 'The source id of the row (RAW source; see mart_version)'
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY product_id;

-- A products_mart from before the winner's columns gains them in place, as stores_mart does.
ALTER TABLE products_mart
    ADD COLUMN IF NOT EXISTS _updated_at DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)' AFTER _ingested_at,
    ADD COLUMN IF NOT EXISTS _source String COMMENT 'The source id of the row (RAW source; see mart_version)' AFTER _updated_at;

CREATE OR REPLACE VIEW products_mart_checked AS
SELECT
    JSONExtractString(payload, 'id') AS product_id,
    lowerUTF8(trimBoth(JSONExtractString(payload, 'name'))) AS name,
    lowerUTF8(JSONExtractString(payload, 'group')) AS category,
    lowerUTF8(JSONExtractString(payload, 'description')) AS description,
    JSONExtractFloat(payload, 'kbju', 'calories') AS calories,
    JSONExtractFloat(payload, 'kbju', 'protein') AS protein,
    JSONExtractFloat(payload, 'kbju', 'fat') AS fat,
    JSONExtractFloat(payload, 'kbju', 'carbohydrates') AS carbohydrates,
    mart_amount(payload, 'price') AS price,
    lowerUTF8(JSONExtractString(payload, 'unit')) AS unit,
    lowerUTF8(JSONExtractString(payload, 'origin_country')) AS origin_country,
    JSONExtractUInt(payload, 'expiry_days') AS expiry_days,
    JSONExtractBool(payload, 'is_organic') AS is_organic,
    JSONExtractString(payload, 'barcode') AS barcode,
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'name')) AS manufacturer_name,
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'country')) AS manufacturer_country,
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'website')) AS manufacturer_website,
    JSONExtractString(payload, 'manufacturer', 'inn') AS manufacturer_inn,
    raw.partition AS _partition,
    raw.offset AS _offset,
    raw.ingested_at AS _ingested_at,
    mart_updated_at(payload) AS _updated_at,
    raw.source AS _source,
    raw.key AS _key,
    multiIf(
        JSONType(payload) != 'Object', mart_payload_reason(payload),
        NOT mart_is_text(payload, 'id'), 'id: missing, not a string or blank',
        product_id != raw.key, 'id: differs from the Kafka message key',
        NOT mart_is_text(payload, 'name'), 'name: missing, not a string or blank',
        price <= 0, 'price: not a positive amount that fits Decimal(12, 2)',
        mart_bad_updated_at(payload, raw.ingested_at), 'updated_at: unparseable or outside [1970-01-02, now]',
        ''
    ) AS _reject_reason
FROM products_raw AS raw;
