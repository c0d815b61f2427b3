-- The stores fewer than {minimum} customers belong to, with how many do. A customer's store is purchase_location.store_id when it is
-- not blank, else the one store whose location has the customer's purchase_location address:
-- city, street, house and postal_code, all four equal as the MARTs normalize them, none blank
-- (the generator of the source documents copies a store's location there, without store_id).
-- An address several stores share names none of them. customers_without_store.sql applies the
-- same rule (the same two CTEs) to the customers.
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
    )
SELECT store.store_id, customers
FROM (SELECT store_id FROM stores_mart FINAL) AS store
LEFT JOIN (
    SELECT candidates[1] AS store_id, count() AS customers FROM customer_stores WHERE length(candidates) = 1 GROUP BY store_id
) AS found USING (store_id)
WHERE customers < {minimum:UInt32}
ORDER BY store.store_id
