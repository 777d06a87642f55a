-- Totes Lake warehouse, migration 0003: current-state views of the facts (the analyst layer).
--
-- Each fact keeps every version of its source row; <fact>_current shows only the latest version of
-- each order or payment (greatest last_updated_date, last_updated_time), with the same columns as
-- the fact. Analysts and BI tools read these for "what is true now" and the facts for history.
-- The same SELECT serves the lake (DuckDB, Athena): functions/core/analysis/current-views.ts, from
-- which this file was generated (warehouseCurrentViewsSql). Migrations are never edited: a change to
-- the facts' columns needs a new migration that replaces these views.

CREATE VIEW fact_sales_order_current AS
SELECT sales_record_id, sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id
FROM (
  SELECT sales_record_id, sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id,
         row_number() OVER (PARTITION BY sales_order_id ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_sales_order
) AS versions
WHERE version_rank = 1;

CREATE VIEW fact_purchase_order_current AS
SELECT purchase_record_id, purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
FROM (
  SELECT purchase_record_id, purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
         row_number() OVER (PARTITION BY purchase_order_id ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_purchase_order
) AS versions
WHERE version_rank = 1;

CREATE VIEW fact_payment_current AS
SELECT payment_record_id, payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date
FROM (
  SELECT payment_record_id, payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date,
         row_number() OVER (PARTITION BY payment_id ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
  FROM fact_payment
) AS versions
WHERE version_rank = 1;
