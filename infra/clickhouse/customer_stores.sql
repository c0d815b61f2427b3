-- Each customer's candidate stores. A customer's store is purchase_location.store_id when it is
-- not blank, else the one store whose location has the customer's purchase_location address:
-- city, street, house and postal_code, all four equal as the MARTs normalize them, none blank
-- (the generator of the source documents copies a store's location there, without store_id).
-- An address several stores share names none of them: a customer has a store when it has exactly
-- one candidate and that store exists. The view reads two MARTs, so ClickHouse can create it only
-- once both exist: `every_store_has_a_customer`, which runs after both, (re)creates it.
CREATE OR REPLACE VIEW customer_stores AS
WITH addresses AS (
    SELECT city, street, house, postal_code, groupArray(store_id) AS stores
    FROM stores_mart FINAL
    WHERE city != '' AND street != '' AND house != '' AND postal_code != ''
    GROUP BY city, street, house, postal_code
)
SELECT
    customer.customer_id AS customer_id,
    trimBoth(customer.store_id) = '' AS by_address,
    if(by_address, address.stores, [customer.store_id]) AS candidates
FROM customers_mart AS customer FINAL
LEFT JOIN addresses AS address USING (city, street, house, postal_code);
