-- dim_payment_type: every kind of payment.
-- Grain: one row per payment_type_id (its latest version). Rebuilt whole each batch.
-- Sources: current_payment_type.
SELECT
  payment_type_id,
  payment_type_name
FROM current_payment_type
