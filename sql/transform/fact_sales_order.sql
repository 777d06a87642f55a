-- fact_sales_order: the sales order versions this batch extracted, one row each.
-- Grain: one row per sales order version (sales_order_id, last_updated); every version is kept,
--   so an amended order has a row per amendment.
-- Incremental: appends this batch's versions as the batch's partition.
-- Sources: batch_sales_order.
-- Timestamps split into a date and a 'HH:MM:SS.mmm' time (UTC); agreed dates arrive as
-- 'YYYY-MM-DD' text and become dates. DISTINCT folds a version read twice into one row.
SELECT DISTINCT
  sales_order_id,
  CAST(created_at AS date) AS created_date,
  format_datetime(created_at, 'HH:mm:ss.SSS') AS created_time,
  CAST(last_updated AS date) AS last_updated_date,
  format_datetime(last_updated, 'HH:mm:ss.SSS') AS last_updated_time,
  staff_id AS sales_staff_id,
  counterparty_id,
  units_sold,
  unit_price,
  currency_id,
  design_id,
  CAST(agreed_payment_date AS date) AS agreed_payment_date,
  CAST(agreed_delivery_date AS date) AS agreed_delivery_date,
  agreed_delivery_location_id
FROM batch_sales_order
