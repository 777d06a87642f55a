-- dim_currency: every currency with its ISO 4217 English name.
-- Grain: one row per currency_id (its latest version). Rebuilt whole each batch.
-- Sources: current_currency.
-- A code this file does not name is kept, with currency_name NULL; the transform reports it.
SELECT
  currency_id,
  currency_code,
  CASE currency_code
    WHEN 'GBP' THEN 'Pound Sterling'
    WHEN 'USD' THEN 'US Dollar'
    WHEN 'EUR' THEN 'Euro'
  END AS currency_name
FROM current_currency
