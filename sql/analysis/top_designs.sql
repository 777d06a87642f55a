-- Top designs: the ten designs with the most units sold, counting the current version of every
-- sales order (an amended order counts once, as amended).
-- Grain: one row per design; ties broken by design_id. Units, not revenue: orders are priced in
-- several currencies, which do not add up.
-- Reads: fact_sales_order_current, dim_design.
-- Portable: runs unchanged on the warehouse (PostgreSQL), the lake (DuckDB) and Athena (Trino).
SELECT d.design_id,
       d.design_name,
       count(*) AS orders,
       sum(o.units_sold) AS units
FROM fact_sales_order_current AS o
JOIN dim_design AS d ON d.design_id = o.design_id
GROUP BY d.design_id, d.design_name
ORDER BY units DESC, d.design_id
LIMIT 10
