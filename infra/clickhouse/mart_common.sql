-- What every MART shares: how a JSON field is read (the SQL functions the entities' `*_checked`
-- views build their rules from), the rejects table, the watermark each MART run starts from, and
-- the duplicates log. See marts/stores.sql for a checked view and mart_load/ for the statements
-- that use them. The ClickHouse service of docker-compose.yml also applies this file at start
-- (init-tables.sh), so Grafana finds every table it reads before the first MART run.

-- Why a payload that is not a JSON object is refused; the first rule of every checked view.
-- ClickHouse reads NaN and Infinity (which Python's json module writes) as malformed JSON.
CREATE OR REPLACE FUNCTION mart_payload_reason AS (payload) ->
    if(isValidJSON(payload), 'payload: not a JSON object', 'payload: not valid JSON (a NaN or Infinity, for instance)');

-- A payload's top-level fields as raw JSON texts, by name: the one pass over the whole payload a
-- checked view makes. Each JSON function parses all of the text it is given, so reading fifteen
-- fields from the payload parsed it fifteen times; read from this map, each parses only its
-- field's own text. An absent field reads as '' (which every function below treats as absent),
-- and of a repeated name the first is kept, as JSONExtract* keeps it.
CREATE OR REPLACE FUNCTION mart_fields AS (payload) ->
    mapFromArrays(JSONExtractKeysAndValuesRaw(payload).1, JSONExtractKeysAndValuesRaw(payload).2);

-- The functions below take one field's raw JSON text (`fields['name']`, or JSONExtractRaw of a
-- nested one), never a whole payload.

-- A JSON string holding at least one character that is not white space (Unicode separators
-- included). A number, a boolean, null or an absent field is not text.
CREATE OR REPLACE FUNCTION mart_is_text AS (value) ->
    JSONType(value) = 'String' AND match(JSONExtractString(value), '[^\\s\\pZ]');

-- A JSON number as Decimal(12, 2), rounded to cents (half away from zero); 0 for anything else
-- and for a number Decimal(12, 2) cannot hold (|value| >= 10^10), so "amount > 0" is the whole
-- rule. Read from the JSON text, not through Float64 or JSONExtract(…, 'Decimal(12, 2)'), which
-- accept strings such as "12.5", keep 1e15 in a Decimal(12, 2) and throw on 1e30.
CREATE OR REPLACE FUNCTION mart_cents AS (value) ->
    ifNull(round(toDecimal128OrNull(value, 4), 2), 0);
CREATE OR REPLACE FUNCTION mart_amount AS (value) ->
    toDecimal64(if(abs(mart_cents(value)) < 10000000000, mart_cents(value), 0), 2);

-- A JSON true; false for anything else, absent included (the landing zone accepts only a boolean
-- there). JSONExtractBool would also take a non-zero integer, and raw text writes 1.0 as 1.
CREATE OR REPLACE FUNCTION mart_bool AS (value) -> value = 'true';

-- A JSON number as Float64; 0 for anything else (strings included).
CREATE OR REPLACE FUNCTION mart_number AS (value) ->
    if(JSONType(value) IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat(value), 0);

-- An ISO 8601 date or date-time string (YYYY-MM-DD, optional time and offset) as
-- DateTime64(3, 'UTC'); NULL for anything else, including impossible dates such as 2024-02-30.
-- DateTime64 spans 1900–2299, so a range rule sees the real date: converting to DateTime or Date
-- first would wrap 2299-01-01 round to 2026.
CREATE OR REPLACE FUNCTION mart_parse_timestamp AS (text) ->
    if(
        match(text, '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}(:?\\d{2})?)?)?$'),
        parseDateTime64BestEffortOrNull(text, 3, 'UTC'),
        NULL
    );
CREATE OR REPLACE FUNCTION mart_timestamp AS (value) -> mart_parse_timestamp(JSONExtractString(value));

-- True when a value is NULL or outside [lower, upper]: a range rule that a missing value breaks.
CREATE OR REPLACE FUNCTION mart_outside AS (value, lower, upper) ->
    NOT ifNull(value BETWEEN lower AND upper, false);

-- One winner per key (README): of the versions of a key that pass the MART's rules, the MART keeps
-- the greatest mart_version, compared element by element:
--   1. updated_at, the optional time a record's version was made: the latest wins; absent (or null)
--      counts as oldest, 1970-01-01 00:00:00, before any valid one (>= 1970-01-02), read to the
--      millisecond as mart_parse_timestamp reads it;
--   2. the source id (RAW's `source`): the greatest wins, file name first (byte order), then a
--      batch file's line number as a number (line 10 of a file after its line 9; 0 for a one-record
--      file), then the whole id (a tie-breaker for ids no landing zone writes); '' from another producer;
--   3. the RAW offset: the later message of the same source, i.e. its later version, wins.
-- None of these depends on the order or the timing in which files were written or loaded.
CREATE OR REPLACE FUNCTION mart_version AS (updated_at, source, offset) ->
    (updated_at, splitByChar('/', source)[1], toUInt64OrZero(splitByChar('/', source)[2]), source, offset);

-- updated_at for mart_version, from the field's raw text ('' when absent, 'null' when null):
-- 1970-01-01 00:00:00 when absent or null. mart_bad_updated_at is the rule a given one must pass:
-- an ISO 8601 date-time string within [1970-01-02, now].
CREATE OR REPLACE FUNCTION mart_given_updated_at AS (value) ->
    if(startsWith(value, '"'), mart_timestamp(value), NULL);
CREATE OR REPLACE FUNCTION mart_updated_at AS (value) ->
    ifNull(mart_given_updated_at(value), toDateTime64(0, 3, 'UTC'));
CREATE OR REPLACE FUNCTION mart_bad_updated_at AS (value, now) ->
    value NOT IN ('', 'null')
    AND mart_outside(mart_given_updated_at(value), toDateTime64('1970-01-02', 3, 'UTC'), now);

-- Every RAW row a MART rule refused, with the first rule it breaks ("field: rule", no value is
-- ever quoted). One row per RAW row: a re-run over the same offsets replaces it (read with FINAL),
-- and run_id says which MART run examined it last.
CREATE TABLE IF NOT EXISTS mart_rejects
(
    entity      LowCardinality(String) COMMENT 'The entity whose RAW row was refused',
    key         String COMMENT 'The RAW row''s key (the Kafka message key)',
    partition   UInt32 COMMENT 'The RAW row''s partition',
    offset      UInt64 COMMENT 'The RAW row''s offset: with entity and partition, the row''s identity',
    reason      String COMMENT 'The first MART rule the row breaks, as "field: rule" (items[n].field for a purchase line); no value quoted',
    run_id      String COMMENT 'The Dagster run of the MART step that judged the row last',
    rejected_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When that run recorded it (UTC)'
)
ENGINE = ReplacingMergeTree
ORDER BY (entity, partition, offset);

-- Per entity and RAW partition, the offset below which every RAW row has been judged and loaded
-- into the MART or mart_rejects. The version column keeps the highest one (read with FINAL), so a
-- late or repeated write never moves a watermark back.
CREATE TABLE IF NOT EXISTS mart_watermarks
(
    entity      LowCardinality(String) COMMENT 'The entity whose RAW table the watermark is of',
    partition   UInt32 COMMENT 'The RAW partition',
    next_offset UInt64 COMMENT 'Every RAW row below this offset is in the MART or in mart_rejects: the next MART run starts here',
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When a MART run moved it (UTC)'
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (entity, partition);

-- One row per entity per MART run (duplicates_log.sql): how many RAW rows repeat a key that RAW
-- already holds. Grafana's duplicate panels and alert rule read it.
CREATE TABLE IF NOT EXISTS duplicates_log
(
    entity               LowCardinality(String) COMMENT 'The entity whose RAW table was measured',
    total_rows           UInt64 COMMENT 'RAW rows at the end of the MART run',
    unique_keys          UInt64 COMMENT 'Distinct keys among them',
    duplicate_percentage Float64 COMMENT '100 × (total_rows − unique_keys) / total_rows, rounded to 0.01; 0 for an empty RAW',
    timestamp            DateTime64(3, 'UTC') COMMENT 'When the MART run measured it (UTC): the MART''s last load',
    run_id               String COMMENT 'The Dagster run of the MART step'
)
ENGINE = MergeTree
ORDER BY (entity, timestamp);
