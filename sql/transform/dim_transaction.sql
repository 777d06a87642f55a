-- dim_transaction: every transaction, linking a payment to its sales or purchase order.
-- Grain: one row per transaction_id (its latest version). Rebuilt whole each batch.
-- Sources: current_transaction.
-- The order id that does not apply to the transaction's type stays NULL.
SELECT
  transaction_id,
  transaction_type,
  sales_order_id,
  purchase_order_id
FROM current_transaction
