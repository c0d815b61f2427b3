-- The customers that belong to no store: how many, and the first ones (by customer_id, up to
-- the limit given) with why. The rule and the two CTEs are stores_without_customers.sql's.
WITH
    addresses AS (
        SELECT city, street, house, postal_code, groupArray(store_id) AS stores
        FROM stores_mart FINAL
        WHERE city != '' AND street != '' AND house != '' AND postal_code != ''
        GROUP BY city, street, house, postal_code
    ),
    customer_stores AS (
        SELECT
            customer.customer_id AS customer_id,
            trimBoth(customer.store_id) = '' AS by_address,
            if(by_address, address.stores, [customer.store_id]) AS candidates
        FROM customers_mart AS customer FINAL
        LEFT JOIN addresses AS address USING (city, street, house, postal_code)
    ),
    unmatched AS (
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
