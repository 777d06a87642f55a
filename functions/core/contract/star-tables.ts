/**
 * The star-schema contract: the 11 tables the transform builds and the warehouse holds, in the
 * Terrific Totes warehouse model (ARCHITECTURE.md, "Star schema conventions").
 *
 * Each table is built by `sql/transform/<name>.sql`. Facts append the new row versions of a batch
 * and are keyed by (natural id, last_updated); dimensions are built from the current state of their
 * source tables and keyed by their natural id — rebuilt whole, carried forward when no source
 * changed, or (`byKey`) rebuilt for just the keys a batch changed (ARCHITECTURE.md, "Transform"). The warehouse adds a surrogate
 * `*_record_id` to each fact; the lake tables add the lineage columns below.
 */

export type StarType = 'integer' | 'text' | 'date' | 'time' | 'numeric(10,2)' | 'boolean';

export interface StarColumn {
  readonly name: string;
  readonly type: StarType;
  readonly nullable: boolean;
  readonly description: string;
  /** A fact column holding a dimension's key: that dimension (its key is `key[0]`); see {@link starReferences}. */
  readonly references?: StarTableName;
}

export type StarKind = 'fact' | 'dimension';

export interface StarTable {
  readonly name: StarTableName;
  readonly kind: StarKind;
  readonly description: string;
  /** Natural key: a dimension's id, or a fact's (id, last_updated_date, last_updated_time). */
  readonly key: readonly string[];
  /** Warehouse-only surrogate key of a fact (identity column), absent from the lake. */
  readonly surrogateKey?: string;
  /** Source tables whose change makes this table change (for lineage and docs). */
  readonly sources: readonly string[];
  /**
   * A dimension that may be maintained by key (functions/core/transform/dimension-by-key.ts). It
   * promises that every row depends only on the latest version of ONE source row of its ONE source
   * table (one `current_` table; no join, grouping, DISTINCT, window or aggregate), keyed by `key`:
   * then a batch's delta of that table yields exactly the rows it changed, and the rest of the
   * previous version stands. test/unit/transform/dimension-by-key.test.ts checks the SQL keeps it.
   * Only worth it for a dimension that grows with the orders; the small ones are rebuilt whole.
   */
  readonly byKey?: boolean;
  /**
   * A dimension that only ever grows and each of whose rows is a function of its key alone
   * (dim_date: a gap-free calendar that never shrinks): a rebuild with as many rows as the previous
   * version equals it, so the transform counts its SQL's rows first and carries the previous version
   * forward when the count is unchanged (rebuilt only when the calendar grows).
   */
  readonly growsOnly?: boolean;
  readonly columns: readonly StarColumn[];
}

export const STAR_TABLE_NAMES = [
  'dim_date',
  'dim_staff',
  'dim_location',
  'dim_design',
  'dim_currency',
  'dim_counterparty',
  'dim_transaction',
  'dim_payment_type',
  'fact_sales_order',
  'fact_purchase_order',
  'fact_payment',
] as const;
export type StarTableName = (typeof STAR_TABLE_NAMES)[number];

/** Lineage columns every lake star table carries (not loaded into the warehouse tables). */
export const LINEAGE_COLUMNS = ['_batch_id', '_sql_hash'] as const;

const c = (name: string, type: StarType, description: string, nullable = false): StarColumn => ({ name, type, nullable, description });
/** A fact column holding the key of `dimension` (a `date` column: of dim_date). */
const ref = (name: string, type: StarType, description: string, dimension: StarTableName): StarColumn => ({ ...c(name, type, description), references: dimension });
const versionColumns = (): StarColumn[] => [
  ref('created_date', 'date', 'Date the source row was created (UTC); key of dim_date.', 'dim_date'),
  c('created_time', 'time', 'Time of day the source row was created (UTC).'),
  ref('last_updated_date', 'date', 'Date this version was written (UTC); key of dim_date.', 'dim_date'),
  c('last_updated_time', 'time', 'Time of day this version was written (UTC).'),
];

export const STAR_TABLES: readonly StarTable[] = [
  {
    name: 'dim_date', kind: 'dimension', key: ['date_id'], sources: ['sales_order', 'purchase_order', 'payment'], growsOnly: true,
    description: 'Calendar of every date any fact references, agreed future dates included.',
    columns: [
      c('date_id', 'date', 'The date.'),
      c('year', 'integer', 'Calendar year.'),
      c('month', 'integer', 'Month number, 1-12.'),
      c('day', 'integer', 'Day of the month.'),
      c('day_of_week', 'integer', 'ISO day of week: 1 = Monday ... 7 = Sunday.'),
      c('day_name', 'text', 'English day name.'),
      c('month_name', 'text', 'English month name.'),
      c('quarter', 'integer', 'Quarter, 1-4.'),
    ],
  },
  {
    name: 'dim_staff', kind: 'dimension', key: ['staff_id'], sources: ['staff', 'department'],
    description: 'Staff with their department (staff joined to department).',
    columns: [
      c('staff_id', 'integer', 'Staff key.'),
      c('first_name', 'text', 'First name.'),
      c('last_name', 'text', 'Last name.'),
      c('department_name', 'text', 'Department name.'),
      c('location', 'text', 'Department location; NULL when unknown.', true),
      c('email_address', 'text', 'Work email address.'),
    ],
  },
  {
    name: 'dim_location', kind: 'dimension', key: ['location_id'], sources: ['address'],
    description: 'Addresses used as delivery locations.',
    columns: [
      c('location_id', 'integer', 'Location key (address_id).'),
      c('address_line_1', 'text', 'First address line.'),
      c('address_line_2', 'text', 'Second address line; NULL when none.', true),
      c('district', 'text', 'District; NULL when unknown.', true),
      c('city', 'text', 'City.'),
      c('postal_code', 'text', 'Postal code.'),
      c('country', 'text', 'Country.'),
      c('phone', 'text', 'Contact phone number.'),
    ],
  },
  {
    name: 'dim_design', kind: 'dimension', key: ['design_id'], sources: ['design'],
    description: 'Tote bag designs.',
    columns: [
      c('design_id', 'integer', 'Design key.'),
      c('design_name', 'text', 'Design name.'),
      c('file_location', 'text', 'Folder of the design file.'),
      c('file_name', 'text', 'Design file name.'),
    ],
  },
  {
    name: 'dim_currency', kind: 'dimension', key: ['currency_id'], sources: ['currency'],
    description: 'Currencies with their ISO 4217 English names.',
    columns: [
      c('currency_id', 'integer', 'Currency key.'),
      c('currency_code', 'text', 'ISO 4217 code.'),
      c('currency_name', 'text', 'ISO 4217 English name; NULL for a code we do not know (reported).', true),
    ],
  },
  {
    name: 'dim_counterparty', kind: 'dimension', key: ['counterparty_id'], sources: ['counterparty', 'address'],
    description: 'Counterparties with their legal address (counterparty joined to address).',
    columns: [
      c('counterparty_id', 'integer', 'Counterparty key.'),
      c('counterparty_legal_name', 'text', 'Registered legal name.'),
      c('counterparty_legal_address_line_1', 'text', 'Legal address, first line.'),
      c('counterparty_legal_address_line_2', 'text', 'Legal address, second line; NULL when none.', true),
      c('counterparty_legal_district', 'text', 'Legal address district; NULL when unknown.', true),
      c('counterparty_legal_city', 'text', 'Legal address city.'),
      c('counterparty_legal_postal_code', 'text', 'Legal address postal code.'),
      c('counterparty_legal_country', 'text', 'Legal address country.'),
      c('counterparty_legal_phone_number', 'text', 'Legal address phone number.'),
    ],
  },
  {
    name: 'dim_transaction', kind: 'dimension', key: ['transaction_id'], sources: ['transaction'], byKey: true,
    description: 'Transactions linking payments to orders.',
    columns: [
      c('transaction_id', 'integer', 'Transaction key.'),
      c('transaction_type', 'text', 'SALE or PURCHASE.'),
      c('sales_order_id', 'integer', 'Sales order of a SALE.', true),
      c('purchase_order_id', 'integer', 'Purchase order of a PURCHASE.', true),
    ],
  },
  {
    name: 'dim_payment_type', kind: 'dimension', key: ['payment_type_id'], sources: ['payment_type'],
    description: 'Kinds of payment.',
    columns: [
      c('payment_type_id', 'integer', 'Payment type key.'),
      c('payment_type_name', 'text', 'SALES_RECEIPT, SALES_REFUND, PURCHASE_PAYMENT or PURCHASE_REFUND.'),
    ],
  },
  {
    name: 'fact_sales_order', kind: 'fact', key: ['sales_order_id', 'last_updated_date', 'last_updated_time'],
    surrogateKey: 'sales_record_id', sources: ['sales_order'],
    description: 'One row per version of each sales order.',
    columns: [
      c('sales_order_id', 'integer', 'Sales order id.'),
      ...versionColumns(),
      ref('sales_staff_id', 'integer', 'Salesperson; key of dim_staff.', 'dim_staff'),
      ref('counterparty_id', 'integer', 'Buyer; key of dim_counterparty.', 'dim_counterparty'),
      c('units_sold', 'integer', 'Units sold.'),
      c('unit_price', 'numeric(10,2)', 'Price per unit.'),
      ref('currency_id', 'integer', 'Key of dim_currency.', 'dim_currency'),
      ref('design_id', 'integer', 'Key of dim_design.', 'dim_design'),
      ref('agreed_payment_date', 'date', 'Agreed payment date; key of dim_date.', 'dim_date'),
      ref('agreed_delivery_date', 'date', 'Agreed delivery date; key of dim_date.', 'dim_date'),
      ref('agreed_delivery_location_id', 'integer', 'Key of dim_location.', 'dim_location'),
    ],
  },
  {
    name: 'fact_purchase_order', kind: 'fact', key: ['purchase_order_id', 'last_updated_date', 'last_updated_time'],
    surrogateKey: 'purchase_record_id', sources: ['purchase_order'],
    description: 'One row per version of each purchase order.',
    columns: [
      c('purchase_order_id', 'integer', 'Purchase order id.'),
      ...versionColumns(),
      ref('staff_id', 'integer', 'Buyer; key of dim_staff.', 'dim_staff'),
      ref('counterparty_id', 'integer', 'Supplier; key of dim_counterparty.', 'dim_counterparty'),
      c('item_code', 'text', 'Supplier item code.'),
      c('item_quantity', 'integer', 'Quantity ordered.'),
      c('item_unit_price', 'numeric(10,2)', 'Price per item.'),
      ref('currency_id', 'integer', 'Key of dim_currency.', 'dim_currency'),
      ref('agreed_delivery_date', 'date', 'Agreed delivery date; key of dim_date.', 'dim_date'),
      ref('agreed_payment_date', 'date', 'Agreed payment date; key of dim_date.', 'dim_date'),
      ref('agreed_delivery_location_id', 'integer', 'Key of dim_location.', 'dim_location'),
    ],
  },
  {
    name: 'fact_payment', kind: 'fact', key: ['payment_id', 'last_updated_date', 'last_updated_time'],
    surrogateKey: 'payment_record_id', sources: ['payment'],
    description: 'One row per version of each payment (paid flipping to true is a new version).',
    columns: [
      c('payment_id', 'integer', 'Payment id.'),
      ...versionColumns(),
      ref('transaction_id', 'integer', 'Key of dim_transaction.', 'dim_transaction'),
      ref('counterparty_id', 'integer', 'Key of dim_counterparty.', 'dim_counterparty'),
      c('payment_amount', 'numeric(10,2)', 'Amount.'),
      ref('currency_id', 'integer', 'Key of dim_currency.', 'dim_currency'),
      ref('payment_type_id', 'integer', 'Key of dim_payment_type.', 'dim_payment_type'),
      c('paid', 'boolean', 'Whether the payment has been made.'),
      ref('payment_date', 'date', 'Payment date; key of dim_date.', 'dim_date'),
    ],
  },
];

const byName = new Map(STAR_TABLES.map((t) => [t.name, t]));

/**
 * The catalog table holding a by-key dimension's versions (its base and change sets, one partition
 * per batch that wrote them) where the catalog cannot hold base + deltas as one location (Glue):
 * the dimension's own name is then the view that merges them (core/analysis/current-views.ts).
 */
export const versionsTableName = (dimension: string): string => `${dimension}_versions`;

/** The dimensions the star contract declares by-key (kept as base + deltas). */
export function byKeyDimensions(): StarTable[] {
  return STAR_TABLES.filter((t) => t.kind === 'dimension' && t.byKey);
}

export function starTable(name: string): StarTable {
  const table = byName.get(name as StarTableName);
  if (!table) throw new Error(`Unknown star table "${name}": the star contract declares ${STAR_TABLE_NAMES.join(', ')}`);
  return table;
}

/** A fact column that holds a dimension's key, and that key. */
export interface StarReference {
  fact: StarTableName;
  column: string;
  dimension: StarTableName;
  dimensionKey: string;
}

/**
 * The fact → dimension references the contract declares (`references` on a fact column), in column
 * order: what the data tests check (data-tests.ts `relationship`) and the docs draw (star-diagram.ts).
 * With `tables`, only references among those tables.
 */
export function starReferences(tables: readonly StarTable[] = STAR_TABLES): StarReference[] {
  const dims = new Map(tables.filter((t) => t.kind === 'dimension').map((t) => [t.name, t]));
  return tables
    .filter((t) => t.kind === 'fact')
    .flatMap((fact) =>
      fact.columns.flatMap((col) => {
        const dim = col.references && dims.get(col.references);
        return dim ? [{ fact: fact.name, column: col.name, dimension: dim.name, dimensionKey: dim.key[0] }] : [];
      }),
    );
}

/** Column type in Trino / Athena engine v3 (and Glue, for Parquet tables). */
export function starTrinoType(type: StarType): string {
  switch (type) {
    case 'integer': return 'integer';
    case 'text': return 'varchar';
    case 'date': return 'date';
    case 'time': return 'time(3)';
    case 'numeric(10,2)': return 'decimal(10,2)';
    case 'boolean': return 'boolean';
  }
}

/**
 * Column type of a star table in the lake. Glue and Athena have no TIME type, so a time of day is
 * stored as varchar 'HH:MM:SS.mmm'; everything else is the contract's Trino type.
 */
export function lakeTrinoType(type: StarType): string {
  return type === 'time' ? 'varchar' : starTrinoType(type);
}

/** Column type in the Glue catalog (Hive type names). Glue has no TIME: times are strings 'HH:MM:SS.fff'. */
export function starGlueType(type: StarType): string {
  switch (type) {
    case 'integer': return 'int';
    case 'text': return 'string';
    case 'date': return 'date';
    case 'time': return 'string';
    case 'numeric(10,2)': return 'decimal(10,2)';
    case 'boolean': return 'boolean';
  }
}

/** Column type in DuckDB. */
export function starDuckdbType(type: StarType): string {
  switch (type) {
    case 'integer': return 'INTEGER';
    case 'text': return 'VARCHAR';
    case 'date': return 'DATE';
    case 'time': return 'VARCHAR';
    case 'numeric(10,2)': return 'DECIMAL(10,2)';
    case 'boolean': return 'BOOLEAN';
  }
}

/** Column type in the PostgreSQL warehouse. */
export function starPostgresType(type: StarType): string {
  switch (type) {
    case 'integer': return 'integer';
    case 'text': return 'text';
    case 'date': return 'date';
    case 'time': return 'time(3)';
    case 'numeric(10,2)': return 'numeric(10,2)';
    case 'boolean': return 'boolean';
  }
}
