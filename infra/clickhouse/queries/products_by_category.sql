SELECT category, count() FROM products_mart FINAL GROUP BY category ORDER BY category
