-- dim_transaction: every transaction, linking a payment to its sales or purchase order.
-- Grain: one row per transaction_id (its latest version). Rebuilt whole, or by key: each row
--   depends on one transaction row only (star contract `byKey`), so a batch that wrote a delta of
--   transaction runs this file over that delta alone, and its rows are kept as a change set beside
--   the base, read latest per key (functions/core/transform/dimension-by-key.ts); the result is the same.
-- Sources: current_transaction.
-- The order id that does not apply to the transaction's type stays NULL.
SELECT
  transaction_id,
  transaction_type,
  sales_order_id,
  purchase_order_id
FROM current_transaction
