-- totesys, the Terrific Totes OLTP database, as Prisma builds it: the source we extract from.
--
-- Used for local runs, tests and benchmarks only (the real totesys is someone else's database).
-- It must match functions/core/contract/source-tables.ts column for column, in order
-- (test/integration/totesys-seed.test.ts checks information_schema against the contract).
-- Prisma conventions kept on purpose, because the pipeline must cope with them: serial integer keys,
-- `created_at timestamp(3) DEFAULT CURRENT_TIMESTAMP`, `last_updated timestamp(3)` with no default
-- (the application stamps it), quoted enum type names, dates held as text.
--
-- Safe to apply more than once: every object is created only when absent.

DO $$ BEGIN
  CREATE TYPE "TransactionType" AS ENUM ('SALE', 'PURCHASE');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
  CREATE TYPE "PaymentTypeName" AS ENUM ('SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "address" (
    "address_id" SERIAL NOT NULL,
    "address_line_1" TEXT NOT NULL,
    "address_line_2" TEXT,
    "district" TEXT,
    "city" TEXT NOT NULL,
    "postal_code" TEXT NOT NULL,
    "country" TEXT NOT NULL,
    "phone" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "address_pkey" PRIMARY KEY ("address_id")
);

CREATE TABLE IF NOT EXISTS "counterparty" (
    "counterparty_id" SERIAL NOT NULL,
    "counterparty_legal_name" TEXT NOT NULL,
    "legal_address_id" INTEGER NOT NULL,
    "commercial_contact" TEXT,
    "delivery_contact" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "counterparty_pkey" PRIMARY KEY ("counterparty_id"),
    CONSTRAINT "counterparty_legal_address_id_fkey" FOREIGN KEY ("legal_address_id")
        REFERENCES "address"("address_id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "currency" (
    "currency_id" SERIAL NOT NULL,
    "currency_code" VARCHAR(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "currency_pkey" PRIMARY KEY ("currency_id")
);

CREATE TABLE IF NOT EXISTS "department" (
    "department_id" SERIAL NOT NULL,
    "department_name" TEXT NOT NULL,
    "location" TEXT,
    "manager" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "department_pkey" PRIMARY KEY ("department_id")
);

CREATE TABLE IF NOT EXISTS "design" (
    "design_id" SERIAL NOT NULL,
    "design_name" TEXT NOT NULL,
    "file_location" TEXT NOT NULL,
    "file_name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "design_pkey" PRIMARY KEY ("design_id")
);

CREATE TABLE IF NOT EXISTS "staff" (
    "staff_id" SERIAL NOT NULL,
    "first_name" TEXT NOT NULL,
    "last_name" TEXT NOT NULL,
    "department_id" INTEGER NOT NULL,
    "email_address" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "staff_pkey" PRIMARY KEY ("staff_id"),
    CONSTRAINT "staff_department_id_fkey" FOREIGN KEY ("department_id")
        REFERENCES "department"("department_id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "payment_type" (
    "payment_type_id" SERIAL NOT NULL,
    "payment_type_name" "PaymentTypeName" NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "payment_type_pkey" PRIMARY KEY ("payment_type_id")
);

CREATE TABLE IF NOT EXISTS "sales_order" (
    "sales_order_id" SERIAL NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    "design_id" INTEGER NOT NULL,
    "staff_id" INTEGER NOT NULL,
    "counterparty_id" INTEGER NOT NULL,
    "units_sold" INTEGER NOT NULL,
    "unit_price" DECIMAL(10,2) NOT NULL,
    "currency_id" INTEGER NOT NULL,
    "agreed_delivery_date" TEXT NOT NULL,
    "agreed_payment_date" TEXT NOT NULL,
    "agreed_delivery_location_id" INTEGER NOT NULL,
    CONSTRAINT "sales_order_pkey" PRIMARY KEY ("sales_order_id"),
    CONSTRAINT "sales_order_design_id_fkey" FOREIGN KEY ("design_id")
        REFERENCES "design"("design_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "sales_order_staff_id_fkey" FOREIGN KEY ("staff_id")
        REFERENCES "staff"("staff_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "sales_order_counterparty_id_fkey" FOREIGN KEY ("counterparty_id")
        REFERENCES "counterparty"("counterparty_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "sales_order_currency_id_fkey" FOREIGN KEY ("currency_id")
        REFERENCES "currency"("currency_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "sales_order_agreed_delivery_location_id_fkey" FOREIGN KEY ("agreed_delivery_location_id")
        REFERENCES "address"("address_id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "purchase_order" (
    "purchase_order_id" SERIAL NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    "staff_id" INTEGER NOT NULL,
    "counterparty_id" INTEGER NOT NULL,
    "item_code" TEXT NOT NULL,
    "item_quantity" INTEGER NOT NULL,
    "item_unit_price" DECIMAL(10,2) NOT NULL,
    "currency_id" INTEGER NOT NULL,
    "agreed_delivery_date" TEXT NOT NULL,
    "agreed_payment_date" TEXT NOT NULL,
    "agreed_delivery_location_id" INTEGER NOT NULL,
    CONSTRAINT "purchase_order_pkey" PRIMARY KEY ("purchase_order_id"),
    CONSTRAINT "purchase_order_staff_id_fkey" FOREIGN KEY ("staff_id")
        REFERENCES "staff"("staff_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "purchase_order_counterparty_id_fkey" FOREIGN KEY ("counterparty_id")
        REFERENCES "counterparty"("counterparty_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "purchase_order_currency_id_fkey" FOREIGN KEY ("currency_id")
        REFERENCES "currency"("currency_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "purchase_order_agreed_delivery_location_id_fkey" FOREIGN KEY ("agreed_delivery_location_id")
        REFERENCES "address"("address_id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "transaction" (
    "transaction_id" SERIAL NOT NULL,
    "transaction_type" "TransactionType" NOT NULL,
    "sales_order_id" INTEGER,
    "purchase_order_id" INTEGER,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "transaction_pkey" PRIMARY KEY ("transaction_id"),
    CONSTRAINT "transaction_sales_order_id_fkey" FOREIGN KEY ("sales_order_id")
        REFERENCES "sales_order"("sales_order_id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "transaction_purchase_order_id_fkey" FOREIGN KEY ("purchase_order_id")
        REFERENCES "purchase_order"("purchase_order_id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "transaction_sales_order_id_key" ON "transaction"("sales_order_id");
CREATE UNIQUE INDEX IF NOT EXISTS "transaction_purchase_order_id_key" ON "transaction"("purchase_order_id");

CREATE TABLE IF NOT EXISTS "payment" (
    "payment_id" SERIAL NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_updated" TIMESTAMP(3) NOT NULL,
    "transaction_id" INTEGER NOT NULL,
    "counterparty_id" INTEGER NOT NULL,
    "payment_amount" DECIMAL(10,2) NOT NULL,
    "currency_id" INTEGER NOT NULL,
    "payment_type_id" INTEGER NOT NULL,
    "paid" BOOLEAN NOT NULL,
    "payment_date" TEXT NOT NULL,
    "company_ac_number" INTEGER NOT NULL,
    "counterparty_ac_number" INTEGER NOT NULL,
    CONSTRAINT "payment_pkey" PRIMARY KEY ("payment_id"),
    CONSTRAINT "payment_transaction_id_fkey" FOREIGN KEY ("transaction_id")
        REFERENCES "transaction"("transaction_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "payment_counterparty_id_fkey" FOREIGN KEY ("counterparty_id")
        REFERENCES "counterparty"("counterparty_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "payment_currency_id_fkey" FOREIGN KEY ("currency_id")
        REFERENCES "currency"("currency_id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "payment_payment_type_id_fkey" FOREIGN KEY ("payment_type_id")
        REFERENCES "payment_type"("payment_type_id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "payment_transaction_id_key" ON "payment"("transaction_id");

-- The migration history Prisma keeps; never extracted. Fixed values so reseeding is deterministic.
INSERT INTO "_prisma_migrations"
    ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")
VALUES
    ('6a1d3c3e-5b0f-4d55-9f7e-2b8a1f0c9d41',
     'f3b1c0d2e9a8476655b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2',
     '2022-11-03 14:08:17.512+00', '20221103140816_totesys', NULL, NULL,
     '2022-11-03 14:08:16.981+00', 1)
ON CONFLICT ("id") DO NOTHING;
