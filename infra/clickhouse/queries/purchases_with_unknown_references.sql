-- The purchases that refer to what the MART does not hold: a store_id absent from stores_mart, a
-- customer_id absent from customers_mart, a line's product_id absent from products_mart. How many
-- purchases, how many of them with each kind, and the first ones (by purchase_id, up to the limit)
-- with the kinds they miss.
WITH unknown AS (
    SELECT
        purchase_id,
        store_id NOT IN (SELECT store_id FROM stores_mart FINAL) AS no_store,
        customer_id NOT IN (SELECT customer_id FROM customers_mart FINAL) AS no_customer,
        purchase_id IN (
            SELECT purchase_id FROM purchase_items_current
            WHERE product_id NOT IN (SELECT product_id FROM products_mart FINAL)
        ) AS no_product
    FROM purchases_mart FINAL
)
SELECT
    count() AS purchases,
    countIf(no_store OR no_customer OR no_product) AS unknown,
    countIf(no_store) AS unknown_store,
    countIf(no_customer) AS unknown_customer,
    countIf(no_product) AS unknown_product,
    groupArraySortedIf({limit:UInt32})(
        (purchase_id, arrayFilter(kind -> kind != '', [
            if(no_store, 'store', ''), if(no_customer, 'customer', ''), if(no_product, 'product', '')
        ])),
        no_store OR no_customer OR no_product
    ) AS first
FROM unknown
