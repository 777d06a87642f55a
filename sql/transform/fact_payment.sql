-- fact_payment: the payment versions this batch extracted, one row each.
-- Grain: one row per payment version (payment_id, last_updated); every version is kept, so a
--   payment whose paid flag flips to true has a row before and a row after.
-- Incremental: appends this batch's versions as the batch's partition.
-- Sources: batch_payment.
-- Timestamps split into a date and a 'HH:MM:SS.mmm' time (UTC); payment_date arrives as
-- 'YYYY-MM-DD' text and becomes a date. DISTINCT folds a version read twice into one row.
SELECT DISTINCT
  payment_id,
  CAST(created_at AS date) AS created_date,
  format_datetime(created_at, 'HH:mm:ss.SSS') AS created_time,
  CAST(last_updated AS date) AS last_updated_date,
  format_datetime(last_updated, 'HH:mm:ss.SSS') AS last_updated_time,
  transaction_id,
  counterparty_id,
  payment_amount,
  currency_id,
  payment_type_id,
  paid,
  CAST(payment_date AS date) AS payment_date
FROM batch_payment
