-- MART purchases and their items; see stores.sql for the deduplication and the incremental
-- load, which every mart shares. Items are exploded from the same RAW rows and keep the
-- purchase's offset, so a purchase republished with fewer lines cannot leave stale lines in
-- purchase_items_current, the view readers use.
CREATE TABLE IF NOT EXISTS purchases_mart
(
    purchase_id       String,
    customer_id       String,
    store_id          String,
    store_network     LowCardinality(String),
    city              String,
    items_count       UInt16,
    total_amount      Decimal(12, 2),
    payment_method    LowCardinality(String),
    is_delivery       Bool,
    delivery_city     String,
    purchase_datetime DateTime('UTC'),
    _partition        UInt32,
    _offset           UInt64,
    _ingested_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY purchase_id;

CREATE TABLE IF NOT EXISTS purchase_items_mart
(
    purchase_id       String,
    line_no           UInt16,
    product_id        String,
    product_name      String,
    category          LowCardinality(String),
    quantity          Float64,
    unit              LowCardinality(String),
    price_per_unit    Decimal(12, 2),
    total_price       Decimal(12, 2),
    manufacturer_name String,
    _partition        UInt32,
    _offset           UInt64
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY (purchase_id, line_no);

CREATE VIEW IF NOT EXISTS purchase_items_current AS
SELECT items.*
FROM purchase_items_mart AS items FINAL
WHERE (purchase_id, _offset) IN (SELECT purchase_id, _offset FROM purchases_mart FINAL);

INSERT INTO purchases_mart
SELECT
    JSONExtractString(payload, 'purchase_id') AS purchase_id,
    JSONExtractString(payload, 'customer', 'customer_id') AS customer_id,
    JSONExtractString(payload, 'store', 'store_id') AS store_id,
    lowerUTF8(JSONExtractString(payload, 'store', 'store_network')),
    lowerUTF8(JSONExtractString(payload, 'store', 'location', 'city')),
    length(JSONExtractArrayRaw(payload, 'items')),
    JSONExtract(payload, 'total_amount', 'Decimal(12, 2)') AS total_amount,
    lowerUTF8(JSONExtractString(payload, 'payment_method')),
    JSONExtractBool(payload, 'is_delivery'),
    lowerUTF8(JSONExtractString(payload, 'delivery_address', 'city')),
    parseDateTimeBestEffortOrZero(JSONExtractString(payload, 'purchase_datetime'), 'UTC') AS purchase_datetime,
    raw.partition,
    raw.offset,
    raw.ingested_at
FROM purchases_raw AS raw
LEFT JOIN (SELECT _partition, max(_offset) + 1 AS next_offset FROM purchases_mart GROUP BY _partition) AS taken
    ON raw.partition = taken._partition
WHERE raw.offset >= taken.next_offset
  AND purchase_id != ''
  AND customer_id != ''
  AND store_id != ''
  AND total_amount > 0
  AND purchase_datetime BETWEEN toDateTime('1970-01-02', 'UTC') AND now();

INSERT INTO purchase_items_mart
SELECT
    JSONExtractString(payload, 'purchase_id') AS purchase_id,
    line_no,
    JSONExtractString(item, 'product_id') AS product_id,
    lowerUTF8(JSONExtractString(item, 'name')),
    lowerUTF8(JSONExtractString(item, 'category')),
    JSONExtractFloat(item, 'quantity') AS quantity,
    lowerUTF8(JSONExtractString(item, 'unit')),
    JSONExtract(item, 'price_per_unit', 'Decimal(12, 2)'),
    JSONExtract(item, 'total_price', 'Decimal(12, 2)') AS total_price,
    lowerUTF8(JSONExtractString(item, 'manufacturer', 'name')),
    raw.partition,
    raw.offset
FROM purchases_raw AS raw
ARRAY JOIN
    JSONExtractArrayRaw(payload, 'items') AS item,
    arrayEnumerate(JSONExtractArrayRaw(payload, 'items')) AS line_no
LEFT JOIN (SELECT _partition, max(_offset) + 1 AS next_offset FROM purchase_items_mart GROUP BY _partition) AS taken
    ON raw.partition = taken._partition
WHERE raw.offset >= taken.next_offset
  AND purchase_id != ''
  AND product_id != ''
  AND quantity > 0
  AND total_price > 0;
