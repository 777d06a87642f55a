-- dim_date: the calendar of every date a fact references (created, last updated, agreed and payment dates).
-- Grain: one row per calendar day, from the earliest to the latest date any version of a
--   sales_order, purchase_order or payment has held (agreed future dates included), with no gaps.
-- Rebuilt whole when a batch grows the calendar (the transform counts this file's rows first and
--   keeps the previous calendar when the count is unchanged: star contract `growsOnly`). The calendar never shrinks: the previous
--   dim_date is part of the range, so a date only an older fact version references (an amended
--   agreed date) stays a key. Because it already covers every earlier version, the range of the
--   previous calendar and this batch's versions equals that over the whole current state, and a
--   batch reads only its own rows, not the million orders before it.
-- Sources: batch_sales_order, batch_purchase_order, batch_payment, dim_date (previous batch's).
-- day_of_week is ISO (1 = Monday ... 7 = Sunday); day and month names are English, spelled out here
-- rather than taken from a locale-dependent formatter.
WITH fact_dates AS (
  SELECT CAST(created_at AS date) AS fact_date FROM batch_sales_order
  UNION ALL SELECT CAST(last_updated AS date) FROM batch_sales_order
  UNION ALL SELECT CAST(agreed_delivery_date AS date) FROM batch_sales_order
  UNION ALL SELECT CAST(agreed_payment_date AS date) FROM batch_sales_order
  UNION ALL SELECT CAST(created_at AS date) FROM batch_purchase_order
  UNION ALL SELECT CAST(last_updated AS date) FROM batch_purchase_order
  UNION ALL SELECT CAST(agreed_delivery_date AS date) FROM batch_purchase_order
  UNION ALL SELECT CAST(agreed_payment_date AS date) FROM batch_purchase_order
  UNION ALL SELECT CAST(created_at AS date) FROM batch_payment
  UNION ALL SELECT CAST(last_updated AS date) FROM batch_payment
  UNION ALL SELECT CAST(payment_date AS date) FROM batch_payment
  UNION ALL SELECT date_id FROM dim_date
),
bounds AS (
  SELECT min(fact_date) AS first_date, max(fact_date) AS last_date
  FROM fact_dates
),
calendar AS (
  SELECT calendar_day.date_id
  FROM bounds
  CROSS JOIN UNNEST(sequence(bounds.first_date, bounds.last_date)) AS calendar_day (date_id)
)
SELECT
  date_id,
  year(date_id) AS year,
  month(date_id) AS month,
  day(date_id) AS day,
  day_of_week(date_id) AS day_of_week,
  CASE day_of_week(date_id)
    WHEN 1 THEN 'Monday'
    WHEN 2 THEN 'Tuesday'
    WHEN 3 THEN 'Wednesday'
    WHEN 4 THEN 'Thursday'
    WHEN 5 THEN 'Friday'
    WHEN 6 THEN 'Saturday'
    WHEN 7 THEN 'Sunday'
  END AS day_name,
  CASE month(date_id)
    WHEN 1 THEN 'January'
    WHEN 2 THEN 'February'
    WHEN 3 THEN 'March'
    WHEN 4 THEN 'April'
    WHEN 5 THEN 'May'
    WHEN 6 THEN 'June'
    WHEN 7 THEN 'July'
    WHEN 8 THEN 'August'
    WHEN 9 THEN 'September'
    WHEN 10 THEN 'October'
    WHEN 11 THEN 'November'
    WHEN 12 THEN 'December'
  END AS month_name,
  quarter(date_id) AS quarter
FROM calendar
