-- The customers that belong to no store (see customer_stores.sql): how many, and the first ones
-- (by customer_id, up to the limit given) with why.
WITH unmatched AS (
    SELECT
        customer_id,
        multiIf(
            NOT by_address, 'store_id not a known store',
            empty(candidates), 'no store_id and no address match',
            'address matches several stores'
        ) AS reason
    FROM customer_stores
    WHERE length(candidates) != 1 OR candidates[1] NOT IN (SELECT store_id FROM stores_mart FINAL)
)
SELECT count() AS customers, groupArraySorted({limit:UInt32})((customer_id, reason)) AS first
FROM unmatched
