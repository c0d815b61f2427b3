-- The purchases whose total_amount differs from the sum of their current lines' total_price by more
-- than a cent (both as the MART holds them, rounded to the cent): how many of how many, and the
-- first ones (by purchase_id, up to the limit) with the difference (total_amount - the lines' sum).
SELECT
    count() AS purchases,
    countIf(abs(difference) > 0.01) AS off,
    groupArraySortedIf({limit:UInt32})((purchase_id, difference), abs(difference) > 0.01) AS first
FROM
(
    SELECT purchase.purchase_id AS purchase_id, purchase.total_amount - ifNull(lines.total, 0) AS difference
    FROM purchases_mart AS purchase FINAL
    LEFT JOIN (
        SELECT purchase_id, sum(total_price) AS total FROM purchase_items_current GROUP BY purchase_id
    ) AS lines USING (purchase_id)
)
