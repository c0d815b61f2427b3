-- The stores fewer than {minimum} customers belong to, with how many do (see customer_stores.sql).
SELECT store.store_id, customers
FROM (SELECT store_id FROM stores_mart FINAL) AS store
LEFT JOIN (
    SELECT candidates[1] AS store_id, count() AS customers FROM customer_stores WHERE length(candidates) = 1 GROUP BY store_id
) AS found USING (store_id)
WHERE customers < {minimum:UInt32}
ORDER BY store.store_id
