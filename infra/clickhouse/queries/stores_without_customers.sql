SELECT store_id FROM stores_mart FINAL
WHERE store_id NOT IN (SELECT store_id FROM customers_mart FINAL)
ORDER BY store_id
