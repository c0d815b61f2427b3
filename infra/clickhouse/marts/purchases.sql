-- MART purchases and their items; see stores.sql for the deduplication and the checked views,
-- which every mart shares. Items are exploded from the same RAW rows and keep the purchase's
-- offset, so a purchase republished with fewer lines cannot leave stale lines in
-- purchase_items_current, the view readers use.
CREATE TABLE IF NOT EXISTS purchases_mart
(
    purchase_id       String COMMENT 'The purchase''s natural key (ord-00001…), the Kafka message key',
    customer_id       String COMMENT 'customer.customer_id: the buyer (customers_mart)',
    store_id          String COMMENT 'store.store_id: where it was bought (stores_mart)',
    store_network     LowCardinality(String) COMMENT 'store.store_network, lower-cased',
    city              String COMMENT 'store.location.city, lower-cased',
    items_count       UInt16 COMMENT 'How many item lines the purchase has (purchase_items_mart)',
    total_amount      Decimal(12, 2) COMMENT 'The purchase''s total in roubles, rounded to the cent; always positive',
    payment_method    LowCardinality(String) COMMENT 'Lower-cased',
    is_delivery       Bool COMMENT 'true when delivered, false when bought in the store',
    delivery_city     String COMMENT 'delivery_address.city, lower-cased; empty when not delivered',
    purchase_datetime DateTime('UTC') COMMENT 'When it was bought (UTC), within [1970-01-02, the moment the row reached RAW]',
    _partition        UInt32 COMMENT 'RAW partition (the Kafka partition) of the version kept',
    _offset           UInt64 COMMENT 'RAW offset of the version kept: the ReplacingMergeTree version, the highest wins (read with FINAL)',
    _ingested_at      DateTime64(3, 'UTC') COMMENT 'When the version kept reached RAW (UTC); the rules'' "now" and "today"',
    _updated_at       DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)',
    _source           String COMMENT 'The source id of the row (RAW source; see mart_version)'
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY purchase_id;

-- A purchases_mart from before the winner's columns gains them in place, as stores_mart does.
ALTER TABLE purchases_mart
    ADD COLUMN IF NOT EXISTS _updated_at DateTime64(3, 'UTC') COMMENT 'updated_at; 1970-01-01 00:00:00 when absent (see mart_version)' AFTER _ingested_at,
    ADD COLUMN IF NOT EXISTS _source String COMMENT 'The source id of the row (RAW source; see mart_version)' AFTER _updated_at;

CREATE TABLE IF NOT EXISTS purchase_items_mart
(
    purchase_id       String COMMENT 'The purchase the line belongs to (purchases_mart)',
    line_no           UInt16 COMMENT 'The line''s position in the purchase''s items, from 1',
    product_id        String COMMENT 'items[n].product_id: the product bought (products_mart)',
    product_name      String COMMENT 'items[n].name, lower-cased',
    category          LowCardinality(String) COMMENT 'items[n].category, lower-cased',
    quantity          Float64 COMMENT 'items[n].quantity, in the line''s unit; always positive',
    unit              LowCardinality(String) COMMENT 'items[n].unit, lower-cased',
    price_per_unit    Decimal(12, 2) COMMENT 'items[n].price_per_unit in roubles, rounded to the cent; always positive',
    total_price       Decimal(12, 2) COMMENT 'items[n].total_price in roubles, rounded to the cent; always positive',
    manufacturer_name String COMMENT 'items[n].manufacturer.name, lower-cased',
    _partition        UInt32 COMMENT 'RAW partition of the purchase the line belongs to',
    _offset           UInt64 COMMENT 'RAW offset of the purchase the line belongs to: the version, the highest wins (read with FINAL)'
)
ENGINE = ReplacingMergeTree(_offset)
ORDER BY (purchase_id, line_no);

CREATE VIEW IF NOT EXISTS purchase_items_current AS
SELECT items.*
FROM purchase_items_mart AS items FINAL
WHERE (purchase_id, _offset) IN (SELECT purchase_id, _offset FROM purchases_mart FINAL);

-- The purchase rules, written once: one row per RAW purchase with the purchases_mart columns, its
-- item lines already typed (`_lines`: one tuple per line, purchase_items_mart's columns from
-- product_id to manufacturer_name), its RAW key and the first rule it breaks ('' when none). A bad
-- line rejects the whole purchase, and the reason names it by its line_no: "items[2].quantity: …".
-- "now" is the moment the row reached RAW, so a row's verdict never changes. The lines are typed
-- here, from the same split of each line that its rules read, so that the judged rows hold them and
-- mart_load/following.sql writes purchase_items_mart without parsing a payload again.
CREATE OR REPLACE VIEW purchases_mart_checked AS
WITH
    mart_fields(payload) AS fields,
    mart_timestamp(fields['purchase_datetime']) AS purchased_at,
    JSONExtractArrayRaw(fields['items']) AS lines,
    arrayMap(line -> mart_fields(line), lines) AS line_fields,
    -- Per line, '' or its first broken rule, written to follow "items[n]"; `item` is the line's fields.
    arrayMap(
        (line, item) -> multiIf(
            JSONType(line) != 'Object', ': not a JSON object',
            NOT mart_is_text(item['product_id']), '.product_id: missing, not a string or blank',
            mart_number(item['quantity']) <= 0, '.quantity: not a positive number',
            mart_amount(item['price_per_unit']) <= 0, '.price_per_unit: not a positive amount that fits Decimal(12, 2)',
            mart_amount(item['total_price']) <= 0, '.total_price: not a positive amount that fits Decimal(12, 2)',
            ''
        ),
        lines,
        line_fields
    ) AS line_problems,
    arrayFirstIndex(problem -> problem != '', line_problems) AS first_bad_line
SELECT
    JSONExtractString(fields['purchase_id']) AS purchase_id,
    JSONExtractString(fields['customer'], 'customer_id') AS customer_id,
    JSONExtractString(fields['store'], 'store_id') AS store_id,
    lowerUTF8(JSONExtractString(fields['store'], 'store_network')) AS store_network,
    lowerUTF8(JSONExtractString(fields['store'], 'location', 'city')) AS city,
    length(lines) AS items_count,
    mart_amount(fields['total_amount']) AS total_amount,
    lowerUTF8(JSONExtractString(fields['payment_method'])) AS payment_method,
    mart_bool(fields['is_delivery']) AS is_delivery,
    lowerUTF8(JSONExtractString(fields['delivery_address'], 'city')) AS delivery_city,
    toDateTime(purchased_at, 'UTC') AS purchase_datetime,
    raw.partition AS _partition,
    raw.offset AS _offset,
    raw.ingested_at AS _ingested_at,
    mart_updated_at(fields['updated_at']) AS _updated_at,
    raw.source AS _source,
    arrayMap(
        item -> tuple(
            JSONExtractString(item['product_id']),
            lowerUTF8(JSONExtractString(item['name'])),
            lowerUTF8(JSONExtractString(item['category'])),
            mart_number(item['quantity']),
            lowerUTF8(JSONExtractString(item['unit'])),
            mart_amount(item['price_per_unit']),
            mart_amount(item['total_price']),
            lowerUTF8(JSONExtractString(item['manufacturer'], 'name'))
        ),
        line_fields
    ) AS _lines,
    raw.key AS _key,
    multiIf(
        JSONType(payload) != 'Object', mart_payload_reason(payload),
        NOT mart_is_text(fields['purchase_id']), 'purchase_id: missing, not a string or blank',
        purchase_id != raw.key, 'purchase_id: differs from the Kafka message key',
        NOT mart_is_text(JSONExtractRaw(fields['customer'], 'customer_id')),
            'customer.customer_id: missing, not a string or blank',
        NOT mart_is_text(JSONExtractRaw(fields['store'], 'store_id')), 'store.store_id: missing, not a string or blank',
        total_amount <= 0, 'total_amount: not a positive amount that fits Decimal(12, 2)',
        mart_outside(purchased_at, toDateTime64('1970-01-02', 3, 'UTC'), raw.ingested_at),
            'purchase_datetime: missing, unparseable or outside [1970-01-02, now]',
        empty(lines), 'items: missing, not an array or empty',
        length(lines) > 65535, 'items: more than 65535 lines (line_no is a UInt16)',
        first_bad_line > 0, concat('items[', toString(first_bad_line), ']', line_problems[first_bad_line]),
        mart_bad_updated_at(fields['updated_at'], raw.ingested_at), 'updated_at: unparseable or outside [1970-01-02, now]',
        ''
    ) AS _reject_reason
FROM purchases_raw AS raw;

-- Views of older versions: the lines were parsed again from RAW through them.
DROP VIEW IF EXISTS purchase_items_mart_checked;
DROP VIEW IF EXISTS purchases_checked;
