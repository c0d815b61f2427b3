-- MART products: one row per product id; see stores.sql for the deduplication and the checked
-- view, which every mart shares.
CREATE TABLE IF NOT EXISTS products_mart
(
    product_id           String COMMENT 'The product''s natural key (the source''s id, prd-1000…), the Kafka message key',
    name                 String COMMENT 'Trimmed, lower-cased',
    category             LowCardinality(String) COMMENT 'The source''s group: one of the five product categories, lower-cased',
    description          String COMMENT 'Lower-cased',
    calories             Float64 COMMENT 'kbju.calories per 100 g; 0 when absent',
    protein              Float64 COMMENT 'kbju.protein, grams per 100 g; 0 when absent',
    fat                  Float64 COMMENT 'kbju.fat, grams per 100 g; 0 when absent',
    carbohydrates        Float64 COMMENT 'kbju.carbohydrates, grams per 100 g; 0 when absent',
    price                Decimal(12, 2) COMMENT 'Price per unit in roubles, rounded to the cent; always positive',
    unit                 LowCardinality(String) COMMENT 'The unit the price is for (kg, pcs, …), lower-cased',
    origin_country       LowCardinality(String) COMMENT 'Lower-cased',
    expiry_days          UInt16 COMMENT 'Shelf life in days; 0 when absent',
    is_organic           Bool COMMENT 'false when absent',
    barcode              String COMMENT 'As given',
    manufacturer_name    String COMMENT 'manufacturer.name, lower-cased',
    manufacturer_country LowCardinality(String) COMMENT 'manufacturer.country, lower-cased',
    manufacturer_website String COMMENT 'manufacturer.website, lower-cased',
    manufacturer_inn     String COMMENT 'manufacturer.inn: the Russian taxpayer number, as given',
    _partition           UInt32 COMMENT 'RAW partition (the Kafka partition) of the version kept',
    _offset              UInt64 COMMENT 'RAW offset of the version kept: the ReplacingMergeTree version, the highest wins (read with FINAL)',
    _ingested_at         DateTime64(3, 'UTC') COMMENT 'When the version kept reached RAW (UTC); the rules'' "now" and "today"',
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
WITH mart_fields(payload) AS fields
SELECT
    JSONExtractString(fields['id']) AS product_id,
    lowerUTF8(trimBoth(JSONExtractString(fields['name']))) AS name,
    lowerUTF8(JSONExtractString(fields['group'])) AS category,
    lowerUTF8(JSONExtractString(fields['description'])) AS description,
    JSONExtractFloat(fields['kbju'], 'calories') AS calories,
    JSONExtractFloat(fields['kbju'], 'protein') AS protein,
    JSONExtractFloat(fields['kbju'], 'fat') AS fat,
    JSONExtractFloat(fields['kbju'], 'carbohydrates') AS carbohydrates,
    mart_amount(fields['price']) AS price,
    lowerUTF8(JSONExtractString(fields['unit'])) AS unit,
    lowerUTF8(JSONExtractString(fields['origin_country'])) AS origin_country,
    JSONExtractUInt(fields['expiry_days']) AS expiry_days,
    mart_bool(fields['is_organic']) AS is_organic,
    JSONExtractString(fields['barcode']) AS barcode,
    lowerUTF8(JSONExtractString(fields['manufacturer'], 'name')) AS manufacturer_name,
    lowerUTF8(JSONExtractString(fields['manufacturer'], 'country')) AS manufacturer_country,
    lowerUTF8(JSONExtractString(fields['manufacturer'], 'website')) AS manufacturer_website,
    JSONExtractString(fields['manufacturer'], 'inn') AS manufacturer_inn,
    raw.partition AS _partition,
    raw.offset AS _offset,
    raw.ingested_at AS _ingested_at,
    mart_updated_at(fields['updated_at']) AS _updated_at,
    raw.source AS _source,
    raw.key AS _key,
    multiIf(
        JSONType(payload) != 'Object', mart_payload_reason(payload),
        NOT mart_is_text(fields['id']), 'id: missing, not a string or blank',
        product_id != raw.key, 'id: differs from the Kafka message key',
        NOT mart_is_text(fields['name']), 'name: missing, not a string or blank',
        price <= 0, 'price: not a positive amount that fits Decimal(12, 2)',
        mart_bad_updated_at(fields['updated_at'], raw.ingested_at), 'updated_at: unparseable or outside [1970-01-02, now]',
        ''
    ) AS _reject_reason
FROM products_raw AS raw;
