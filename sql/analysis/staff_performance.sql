-- Staff performance: sales per member of staff, from the current version of every sales order,
-- with how often their orders were amended (versions beyond the first, from the full history).
-- Grain: one row per member of staff who sold anything; best first by units, ties by staff_id.
-- Reads: fact_sales_order_current, fact_sales_order (history), dim_staff.
-- Portable: runs unchanged on the warehouse (PostgreSQL), the lake (DuckDB) and Athena (Trino).
WITH versions AS (
  SELECT sales_staff_id, count(*) AS versions
  FROM fact_sales_order
  GROUP BY sales_staff_id
)
SELECT s.staff_id,
       s.first_name,
       s.last_name,
       s.department_name,
       count(*) AS orders,
       count(DISTINCT o.counterparty_id) AS customers,
       sum(o.units_sold) AS units,
       max(v.versions) - count(*) AS amendments
FROM fact_sales_order_current AS o
JOIN dim_staff AS s ON s.staff_id = o.sales_staff_id
JOIN versions AS v ON v.sales_staff_id = o.sales_staff_id
GROUP BY s.staff_id, s.first_name, s.last_name, s.department_name
ORDER BY units DESC, s.staff_id
LIMIT 20
