import type { SourceTableName } from './source-tables';
import { STAR_MODELS } from './star-models.generated';

/**
 * The star-schema contract: the 11 tables the transform builds and the warehouse holds, in the
 * Terrific Totes warehouse model (ARCHITECTURE.md, "Star schema conventions").
 *
 * Each table's columns, key and data tests are declared once, in its model file
 * `sql/transform/<name>.yml` beside its SQL (functions/core/contract/star-models.ts reads them);
 * `npm run generate` compiles the models into star-models.generated.ts, exported here as
 * {@link STAR_TABLES}: the Glue tables, the warehouse DDL, the load, the data tests, the docs and the
 * current views all follow from it. This file keeps the set of tables, the types and their mappings.
 *
 * Each table is built by `sql/transform/<name>.sql`. Facts append the new row versions of a batch
 * and are keyed by (natural id, last_updated); dimensions are built from the current state of their
 * source tables and keyed by their natural id — rebuilt whole, carried forward when no source
 * changed, or (`byKey`) rebuilt for just the keys a batch changed (ARCHITECTURE.md, "Transform"). The warehouse adds a surrogate
 * `*_record_id` to each fact; the lake tables add the lineage columns below.
 */

export const STAR_TYPES = ['integer', 'text', 'date', 'time', 'numeric(10,2)', 'boolean'] as const;
export type StarType = (typeof STAR_TYPES)[number];

export interface StarColumn {
  readonly name: string;
  readonly type: StarType;
  readonly nullable: boolean;
  readonly description: string;
  /** A fact column holding a dimension's key: that dimension (its key is `key[0]`); see {@link starReferences}. */
  readonly references?: StarTableName;
  /** The only values the column may hold (the model's `accepted_values` test). */
  readonly accepted?: readonly (string | number)[];
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
  /**
   * A fact whose rows are exactly the distinct versions of this source table the batch extracted (the
   * model's `one_row_per_version_of` test: data-tests.ts reconciles the count with the extract).
   */
  readonly versionsOf?: SourceTableName;
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

/** Every star table, in the order of {@link STAR_TABLE_NAMES}: compiled from `sql/transform/*.yml`. */
export const STAR_TABLES: readonly StarTable[] = STAR_MODELS;

/** Lineage columns every lake star table carries (not loaded into the warehouse tables). */
export const LINEAGE_COLUMNS = ['_batch_id', '_sql_hash'] as const;

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
