-- Sales by month and currency: units and revenue of the current version of every sales order, by
-- the month the order was created.
-- Grain: one row per (year, month, currency); the latest 12 such rows.
-- Reads: fact_sales_order_current, dim_date, dim_currency.
-- Portable: runs unchanged on the warehouse (PostgreSQL), the lake (DuckDB, `totes query`) and Athena (Trino).
SELECT d.year,
       d.month,
       d.month_name,
       c.currency_code,
       count(*) AS orders,
       sum(o.units_sold) AS units,
       CAST(sum(o.units_sold * o.unit_price) AS decimal(14, 2)) AS revenue
FROM fact_sales_order_current AS o
JOIN dim_date AS d ON d.date_id = o.created_date
JOIN dim_currency AS c ON c.currency_id = o.currency_id
GROUP BY d.year, d.month, d.month_name, c.currency_code
ORDER BY d.year DESC, d.month DESC, c.currency_code
LIMIT 12
