/**
 * The table contract: one declaration of the 11 totesys tables we extract.
 *
 * It drives the extract's column lists, the raw lake schema (Glue table definitions, DuckDB's
 * read schema, Trino's raw tables) and drift detection against `information_schema`. Nothing
 * else in the code base lists source columns. `_prisma_migrations` is deliberately absent: it
 * is never extracted.
 */

/** Logical column types of totesys, as PostgreSQL declares them. */
export type SourceType =
  | 'integer'
  | 'text'
  | 'varchar(3)'
  | 'numeric(10,2)'
  | 'boolean'
  | 'timestamp(3)'
  | 'enum:TransactionType'
  | 'enum:PaymentTypeName';

export interface SourceColumn {
  readonly name: string;
  readonly type: SourceType;
  readonly nullable: boolean;
  readonly description: string;
}

export interface SourceTable {
  readonly name: SourceTableName;
  readonly description: string;
  /** Single-column serial primary key (every totesys table has one). */
  readonly primaryKey: string;
  readonly columns: readonly SourceColumn[];
}

export const SOURCE_TABLE_NAMES = [
  'address',
  'counterparty',
  'currency',
  'department',
  'design',
  'staff',
  'sales_order',
  'purchase_order',
  'transaction',
  'payment',
  'payment_type',
] as const;
export type SourceTableName = (typeof SOURCE_TABLE_NAMES)[number];

export const ENUMS = {
  TransactionType: ['SALE', 'PURCHASE'],
  PaymentTypeName: ['SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND'],
} as const;

/** Every raw lake row carries the id of the batch that extracted it. */
export const BATCH_ID_COLUMN = '_batch_id';

const id = (name: string, description: string): SourceColumn => ({ name, type: 'integer', nullable: false, description });
const text = (name: string, description: string, nullable = false): SourceColumn => ({ name, type: 'text', nullable, description });
const audit: readonly SourceColumn[] = [
  { name: 'created_at', type: 'timestamp(3)', nullable: false, description: 'When the row was created in totesys (UTC).' },
  { name: 'last_updated', type: 'timestamp(3)', nullable: false, description: 'When this version of the row was written in totesys (UTC); the extract cursor.' },
];

export const SOURCE_TABLES: readonly SourceTable[] = [
  {
    name: 'address',
    description: 'Postal addresses of counterparties and delivery locations.',
    primaryKey: 'address_id',
    columns: [
      id('address_id', 'Address key.'),
      text('address_line_1', 'First address line.'),
      text('address_line_2', 'Second address line, when there is one.', true),
      text('district', 'District, when known.', true),
      text('city', 'City.'),
      text('postal_code', 'Postal code.'),
      text('country', 'Country.'),
      text('phone', 'Contact phone number.'),
      ...audit,
    ],
  },
  {
    name: 'counterparty',
    description: 'Companies Terrific Totes buys from or sells to.',
    primaryKey: 'counterparty_id',
    columns: [
      id('counterparty_id', 'Counterparty key.'),
      text('counterparty_legal_name', 'Registered legal name.'),
      id('legal_address_id', 'Legal address (address.address_id).'),
      text('commercial_contact', 'Commercial contact name (not carried to the warehouse).', true),
      text('delivery_contact', 'Delivery contact name (not carried to the warehouse).', true),
      ...audit,
    ],
  },
  {
    name: 'currency',
    description: 'Currencies orders and payments are made in.',
    primaryKey: 'currency_id',
    columns: [
      id('currency_id', 'Currency key.'),
      { name: 'currency_code', type: 'varchar(3)', nullable: false, description: 'ISO 4217 currency code.' },
      ...audit,
    ],
  },
  {
    name: 'department',
    description: 'Departments staff belong to.',
    primaryKey: 'department_id',
    columns: [
      id('department_id', 'Department key.'),
      text('department_name', 'Department name.'),
      text('location', 'Office location, when known.', true),
      text('manager', 'Manager name (not carried to the warehouse).', true),
      ...audit,
    ],
  },
  {
    name: 'design',
    description: 'Tote bag designs.',
    primaryKey: 'design_id',
    columns: [
      id('design_id', 'Design key.'),
      text('design_name', 'Design name.'),
      text('file_location', 'Folder of the design file.'),
      text('file_name', 'Design file name.'),
      ...audit,
    ],
  },
  {
    name: 'staff',
    description: 'Employees of Terrific Totes.',
    primaryKey: 'staff_id',
    columns: [
      id('staff_id', 'Staff key.'),
      text('first_name', 'First name.'),
      text('last_name', 'Last name.'),
      id('department_id', 'Department (department.department_id).'),
      text('email_address', 'Work email address.'),
      ...audit,
    ],
  },
  {
    name: 'sales_order',
    description: 'Sales orders; amended in place, every version is kept in the lake.',
    primaryKey: 'sales_order_id',
    columns: [
      id('sales_order_id', 'Sales order key.'),
      ...audit,
      id('design_id', 'Design sold (design.design_id).'),
      id('staff_id', 'Salesperson (staff.staff_id).'),
      id('counterparty_id', 'Buyer (counterparty.counterparty_id).'),
      { name: 'units_sold', type: 'integer', nullable: false, description: 'Units sold.' },
      { name: 'unit_price', type: 'numeric(10,2)', nullable: false, description: 'Price per unit in the order currency.' },
      id('currency_id', 'Order currency (currency.currency_id).'),
      text('agreed_delivery_date', "Agreed delivery date, 'YYYY-MM-DD'."),
      text('agreed_payment_date', "Agreed payment date, 'YYYY-MM-DD'."),
      id('agreed_delivery_location_id', 'Delivery address (address.address_id).'),
    ],
  },
  {
    name: 'purchase_order',
    description: 'Purchase orders for materials and items.',
    primaryKey: 'purchase_order_id',
    columns: [
      id('purchase_order_id', 'Purchase order key.'),
      ...audit,
      id('staff_id', 'Buyer (staff.staff_id).'),
      id('counterparty_id', 'Supplier (counterparty.counterparty_id).'),
      text('item_code', 'Supplier item code.'),
      { name: 'item_quantity', type: 'integer', nullable: false, description: 'Quantity ordered.' },
      { name: 'item_unit_price', type: 'numeric(10,2)', nullable: false, description: 'Price per item in the order currency.' },
      id('currency_id', 'Order currency (currency.currency_id).'),
      text('agreed_delivery_date', "Agreed delivery date, 'YYYY-MM-DD'."),
      text('agreed_payment_date', "Agreed payment date, 'YYYY-MM-DD'."),
      id('agreed_delivery_location_id', 'Delivery address (address.address_id).'),
    ],
  },
  {
    name: 'transaction',
    description: 'One transaction per sales or purchase order.',
    primaryKey: 'transaction_id',
    columns: [
      id('transaction_id', 'Transaction key.'),
      { name: 'transaction_type', type: 'enum:TransactionType', nullable: false, description: 'SALE or PURCHASE.' },
      { name: 'sales_order_id', type: 'integer', nullable: true, description: 'Sales order of a SALE (sales_order.sales_order_id).' },
      { name: 'purchase_order_id', type: 'integer', nullable: true, description: 'Purchase order of a PURCHASE (purchase_order.purchase_order_id).' },
      ...audit,
    ],
  },
  {
    name: 'payment',
    description: 'Payments settling transactions; paid flips from false to true later.',
    primaryKey: 'payment_id',
    columns: [
      id('payment_id', 'Payment key.'),
      ...audit,
      id('transaction_id', 'Transaction settled (transaction.transaction_id).'),
      id('counterparty_id', 'Counterparty paid or paying (counterparty.counterparty_id).'),
      { name: 'payment_amount', type: 'numeric(10,2)', nullable: false, description: 'Amount in the payment currency.' },
      id('currency_id', 'Payment currency (currency.currency_id).'),
      id('payment_type_id', 'Kind of payment (payment_type.payment_type_id).'),
      { name: 'paid', type: 'boolean', nullable: false, description: 'Whether the payment has been made.' },
      text('payment_date', "Payment date, 'YYYY-MM-DD'."),
      { name: 'company_ac_number', type: 'integer', nullable: false, description: 'Company account number (not carried to the warehouse).' },
      { name: 'counterparty_ac_number', type: 'integer', nullable: false, description: 'Counterparty account number (not carried to the warehouse).' },
    ],
  },
  {
    name: 'payment_type',
    description: 'Kinds of payment.',
    primaryKey: 'payment_type_id',
    columns: [
      id('payment_type_id', 'Payment type key.'),
      { name: 'payment_type_name', type: 'enum:PaymentTypeName', nullable: false, description: 'SALES_RECEIPT, SALES_REFUND, PURCHASE_PAYMENT or PURCHASE_REFUND.' },
      ...audit,
    ],
  },
];

const byName = new Map(SOURCE_TABLES.map((t) => [t.name, t]));

export function sourceTable(name: string): SourceTable {
  const table = byName.get(name as SourceTableName);
  if (!table) throw new Error(`Unknown source table "${name}": the table contract declares ${SOURCE_TABLE_NAMES.join(', ')}`);
  return table;
}

/** Column type in the raw lake as Glue/Hive declares it (JSON SerDe). */
export function glueType(type: SourceType): string {
  switch (type) {
    case 'integer': return 'int';
    case 'numeric(10,2)': return 'decimal(10,2)';
    case 'boolean': return 'boolean';
    case 'timestamp(3)': return 'timestamp';
    default: return 'string';
  }
}

/** Column type in Trino / Athena engine v3 SQL. */
export function trinoType(type: SourceType): string {
  switch (type) {
    case 'integer': return 'integer';
    case 'numeric(10,2)': return 'decimal(10,2)';
    case 'boolean': return 'boolean';
    case 'timestamp(3)': return 'timestamp(3)';
    default: return 'varchar';
  }
}

/** Column type DuckDB is told to read a raw JSON value as (never inferred). */
export function duckdbType(type: SourceType): string {
  switch (type) {
    case 'integer': return 'INTEGER';
    case 'numeric(10,2)': return 'DECIMAL(10,2)';
    case 'boolean': return 'BOOLEAN';
    case 'timestamp(3)': return 'TIMESTAMP';
    default: return 'VARCHAR';
  }
}

/** The PostgreSQL type a text value is cast to when written into totesys (the seed and simulator). */
export function postgresCastType(type: SourceType): string {
  switch (type) {
    case 'enum:TransactionType': return '"TransactionType"';
    case 'enum:PaymentTypeName': return '"PaymentTypeName"';
    default: return type;
  }
}

/** `information_schema.columns.data_type` that PostgreSQL reports for a contract type (drift detection). */
export function postgresDataType(type: SourceType): string {
  switch (type) {
    case 'integer': return 'integer';
    case 'text': return 'text';
    case 'varchar(3)': return 'character varying';
    case 'numeric(10,2)': return 'numeric';
    case 'boolean': return 'boolean';
    case 'timestamp(3)': return 'timestamp without time zone';
    default: return 'USER-DEFINED';
  }
}
