-- MART products: one row per product id; see stores.sql for the deduplication and the
-- incremental load, which every mart shares.
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
    _ingested_at         DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY product_id;

INSERT INTO products_mart
SELECT
    JSONExtractString(payload, 'id') AS product_id,
    lowerUTF8(trimBoth(JSONExtractString(payload, 'name'))) AS name,
    lowerUTF8(JSONExtractString(payload, 'group')),
    lowerUTF8(JSONExtractString(payload, 'description')),
    JSONExtractFloat(payload, 'kbju', 'calories'),
    JSONExtractFloat(payload, 'kbju', 'protein'),
    JSONExtractFloat(payload, 'kbju', 'fat'),
    JSONExtractFloat(payload, 'kbju', 'carbohydrates'),
    JSONExtract(payload, 'price', 'Decimal(12, 2)') AS price,
    lowerUTF8(JSONExtractString(payload, 'unit')),
    lowerUTF8(JSONExtractString(payload, 'origin_country')),
    JSONExtractUInt(payload, 'expiry_days'),
    JSONExtractBool(payload, 'is_organic'),
    JSONExtractString(payload, 'barcode'),
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'name')),
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'country')),
    lowerUTF8(JSONExtractString(payload, 'manufacturer', 'website')),
    JSONExtractString(payload, 'manufacturer', 'inn'),
    raw.partition,
    raw.offset,
    raw.ingested_at
FROM products_raw AS raw
LEFT JOIN (SELECT _partition, max(_offset) + 1 AS next_offset FROM products_mart GROUP BY _partition) AS taken
    ON raw.partition = taken._partition
WHERE raw.offset >= taken.next_offset
  AND product_id != ''
  AND name != ''
  AND price > 0;
