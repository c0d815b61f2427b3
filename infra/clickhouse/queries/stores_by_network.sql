SELECT store_network, count() FROM stores_mart FINAL GROUP BY store_network ORDER BY store_network
