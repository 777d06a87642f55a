-- Totes Lake warehouse, migration 0004: the current-state views take the latest batch's version.
--
-- 0003 took the greatest (last_updated_date, last_updated_time). last_updated is the writer's
-- clock: a version committed late (a writer's clock behind the database's, a stamp taken before
-- BEGIN) is extracted by a later batch with a stamp older than the version it supersedes. The load
-- inserts batches in sequence and a batch holds at most one version of a row, so the fact's
-- surrogate key (an identity) orders a row's versions by batch, which is commit order. Same columns
-- as 0003, so the views are replaced in place. Generated from functions/core/analysis/current-views.ts
-- (warehouseCurrentViewsSql); migrations are never edited.

CREATE OR REPLACE VIEW fact_sales_order_current AS
SELECT sales_record_id, sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id
FROM (
  SELECT sales_record_id, sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id,
         row_number() OVER (PARTITION BY sales_order_id ORDER BY sales_record_id DESC, last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_sales_order
) AS versions
WHERE version_rank = 1;

CREATE OR REPLACE VIEW fact_purchase_order_current AS
SELECT purchase_record_id, purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
FROM (
  SELECT purchase_record_id, purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
         row_number() OVER (PARTITION BY purchase_order_id ORDER BY purchase_record_id DESC, last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_purchase_order
) AS versions
WHERE version_rank = 1;

CREATE OR REPLACE VIEW fact_payment_current AS
SELECT payment_record_id, payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date
FROM (
  SELECT payment_record_id, payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date,
         row_number() OVER (PARTITION BY payment_id ORDER BY payment_record_id DESC, last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_payment
) AS versions
WHERE version_rank = 1;
