-- fact_sales_order compaction: the fact's versions laid out by the month of created_date.
-- Reads: fact_sales_order, bound to exactly what the compaction replaces: the batch partitions it compacts and
--   the compacted months those batches add versions to (functions/core/transform/fact-compaction.ts).
-- Writes: one partition created_month=YYYY-MM per month, the versions whose created_date falls in it,
--   each row unchanged (its _batch_id and _sql_hash are those of the batch that built it).
-- Portable: runs unchanged on DuckDB, Trino and Athena; the engine adds CREATE TABLE … AS / COPY.
SELECT *,
       substr(CAST(created_date AS varchar), 1, 7) AS created_month
FROM fact_sales_order
