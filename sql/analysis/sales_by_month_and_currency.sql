-- Sales by month and currency: revenue of the current version of every sales order, by the month
-- the order was created. Grain: one row per (month, currency). Runs on the warehouse (PostgreSQL).
WITH current_orders AS (
  SELECT DISTINCT ON (sales_order_id) *
  FROM fact_sales_order
  ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC
)
SELECT d.year,
       d.month_name AS month,
       c.currency_code,
       count(*) AS orders,
       sum(o.units_sold) AS units,
       sum(o.units_sold * o.unit_price)::numeric(14, 2) AS revenue
FROM current_orders o
JOIN dim_date d ON d.date_id = o.created_date
JOIN dim_currency c ON c.currency_id = o.currency_id
GROUP BY d.year, d.month, d.month_name, c.currency_code
ORDER BY d.year DESC, d.month DESC, c.currency_code
LIMIT 12
