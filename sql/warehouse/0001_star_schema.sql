-- Totes Lake warehouse, migration 0001: the star schema and the load ledger.
--
-- Runs with search_path set to the configured warehouse schema (default public), so no table
-- name here is schema-qualified. Column names and types follow functions/core/contract/star-tables.ts
-- (starPostgresType); test/integration/load/warehouse-migrations.test.ts checks they match.
--
-- Keys:
--   * a dimension is keyed by its natural id: the load upserts on it;
--   * a fact holds one row per version of its source row: a surrogate *_record_id identity, and the
--     natural key (id, last_updated_date, last_updated_time) UNIQUE, so a version inserts once.
-- No foreign keys: a batch's dimension rows and fact rows load in one transaction, but a fact may
-- reference a dimension row written by an earlier batch, and BI tools read these tables, not write
-- them. Without foreign keys the load order of the tables inside a batch does not matter, and fact
-- inserts do not pay a lookup per row. Referential integrity is checked by the transform's data tests.

CREATE TABLE dim_date (
  date_id date PRIMARY KEY,
  year integer NOT NULL,
  month integer NOT NULL,
  day integer NOT NULL,
  day_of_week integer NOT NULL,
  day_name text NOT NULL,
  month_name text NOT NULL,
  quarter integer NOT NULL
);

CREATE TABLE dim_staff (
  staff_id integer PRIMARY KEY,
  first_name text NOT NULL,
  last_name text NOT NULL,
  department_name text NOT NULL,
  location text,
  email_address text NOT NULL
);

CREATE TABLE dim_location (
  location_id integer PRIMARY KEY,
  address_line_1 text NOT NULL,
  address_line_2 text,
  district text,
  city text NOT NULL,
  postal_code text NOT NULL,
  country text NOT NULL,
  phone text NOT NULL
);

CREATE TABLE dim_design (
  design_id integer PRIMARY KEY,
  design_name text NOT NULL,
  file_location text NOT NULL,
  file_name text NOT NULL
);

CREATE TABLE dim_currency (
  currency_id integer PRIMARY KEY,
  currency_code text NOT NULL,
  currency_name text
);

CREATE TABLE dim_counterparty (
  counterparty_id integer PRIMARY KEY,
  counterparty_legal_name text NOT NULL,
  counterparty_legal_address_line_1 text NOT NULL,
  counterparty_legal_address_line_2 text,
  counterparty_legal_district text,
  counterparty_legal_city text NOT NULL,
  counterparty_legal_postal_code text NOT NULL,
  counterparty_legal_country text NOT NULL,
  counterparty_legal_phone_number text NOT NULL
);

CREATE TABLE dim_transaction (
  transaction_id integer PRIMARY KEY,
  transaction_type text NOT NULL,
  sales_order_id integer,
  purchase_order_id integer
);

CREATE TABLE dim_payment_type (
  payment_type_id integer PRIMARY KEY,
  payment_type_name text NOT NULL
);

CREATE TABLE fact_sales_order (
  sales_record_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sales_order_id integer NOT NULL,
  created_date date NOT NULL,
  created_time time(3) NOT NULL,
  last_updated_date date NOT NULL,
  last_updated_time time(3) NOT NULL,
  sales_staff_id integer NOT NULL,
  counterparty_id integer NOT NULL,
  units_sold integer NOT NULL,
  unit_price numeric(10,2) NOT NULL,
  currency_id integer NOT NULL,
  design_id integer NOT NULL,
  agreed_payment_date date NOT NULL,
  agreed_delivery_date date NOT NULL,
  agreed_delivery_location_id integer NOT NULL,
  UNIQUE (sales_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_purchase_order (
  purchase_record_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purchase_order_id integer NOT NULL,
  created_date date NOT NULL,
  created_time time(3) NOT NULL,
  last_updated_date date NOT NULL,
  last_updated_time time(3) NOT NULL,
  staff_id integer NOT NULL,
  counterparty_id integer NOT NULL,
  item_code text NOT NULL,
  item_quantity integer NOT NULL,
  item_unit_price numeric(10,2) NOT NULL,
  currency_id integer NOT NULL,
  agreed_delivery_date date NOT NULL,
  agreed_payment_date date NOT NULL,
  agreed_delivery_location_id integer NOT NULL,
  UNIQUE (purchase_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_payment (
  payment_record_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id integer NOT NULL,
  created_date date NOT NULL,
  created_time time(3) NOT NULL,
  last_updated_date date NOT NULL,
  last_updated_time time(3) NOT NULL,
  transaction_id integer NOT NULL,
  counterparty_id integer NOT NULL,
  payment_amount numeric(10,2) NOT NULL,
  currency_id integer NOT NULL,
  payment_type_id integer NOT NULL,
  paid boolean NOT NULL,
  payment_date date NOT NULL,
  UNIQUE (payment_id, last_updated_date, last_updated_time)
);

-- One row per loaded batch, written in the same transaction as the batch's rows: a batch is in the
-- warehouse if and only if its ledger row is. `seq` is the batch's sequence number (batches load in
-- order); `rows` holds, per star table, the rows read from the lake and the rows inserted or
-- changed; `sql_versions` the content hash of the SQL that built each table.
CREATE TABLE load_ledger (
  batch_id text PRIMARY KEY,
  seq integer NOT NULL UNIQUE,
  loaded_at timestamptz NOT NULL DEFAULT now(),
  rows jsonb NOT NULL,
  sql_versions jsonb NOT NULL,
  elapsed_ms integer NOT NULL
);
