-- Late payments: sales receipts settled after the payment date agreed on their sales order, or
-- still unpaid past it, per customer and currency, with how late they are.
-- Grain: one row per (counterparty, currency) with at least one late payment; the 15 with most.
-- "Paid on" is the date of the payment version that turned paid true (its last_updated_date);
-- "overdue" is judged as of the newest payment update in the data (not today), so the answer is
-- the same wherever and whenever the query runs.
-- Reads: fact_payment_current, fact_payment (history), dim_transaction, fact_sales_order_current,
--   dim_counterparty, dim_currency, dim_date.
-- Days late are counted on dim_date (a gap-free calendar of every date a fact references), because
-- date subtraction means different things in PostgreSQL, DuckDB and Trino.
-- Portable: runs unchanged on the warehouse (PostgreSQL), the lake (DuckDB) and Athena (Trino).
WITH as_of AS (
  SELECT max(last_updated_date) AS as_of_date FROM fact_payment
),
settled AS (
  SELECT p.payment_id,
         p.counterparty_id,
         p.currency_id,
         p.payment_amount,
         p.paid,
         o.agreed_payment_date,
         CASE WHEN p.paid THEN p.last_updated_date ELSE a.as_of_date END AS settled_date
  FROM fact_payment_current AS p
  CROSS JOIN as_of AS a
  JOIN dim_transaction AS t ON t.transaction_id = p.transaction_id
  JOIN fact_sales_order_current AS o ON o.sales_order_id = t.sales_order_id
),
late AS (
  SELECT s.payment_id, count(*) AS days
  FROM settled AS s
  JOIN dim_date AS d ON d.date_id > s.agreed_payment_date AND d.date_id <= s.settled_date
  GROUP BY s.payment_id
)
SELECT cp.counterparty_legal_name,
       c.currency_code,
       count(*) AS late_payments,
       sum(CASE WHEN s.paid THEN 0 ELSE 1 END) AS overdue_unpaid,
       CAST(sum(s.payment_amount) AS decimal(14, 2)) AS amount,
       max(l.days) AS max_days_late,
       sum(l.days) AS total_days_late
FROM settled AS s
JOIN late AS l ON l.payment_id = s.payment_id
JOIN dim_counterparty AS cp ON cp.counterparty_id = s.counterparty_id
JOIN dim_currency AS c ON c.currency_id = s.currency_id
GROUP BY cp.counterparty_legal_name, c.currency_code
ORDER BY late_payments DESC, cp.counterparty_legal_name, c.currency_code
LIMIT 15
