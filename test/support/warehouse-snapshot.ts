/**
 * Reads the warehouse back as text, in the canonical form of `expected-star.ts`, and compares the
 * two as sets of rows, so that a failing test names the table and shows the first rows that differ
 * on each side instead of a wall of JSON.
 *
 * The surrogate `*_record_id` columns are left out of the comparison with the oracle: their values
 * depend on load order, which the design does not fix. `warehouseFingerprint` keeps them, for the
 * "a repeated run changes nothing" check, where every byte must stay the same.
 */
import { Client, escapeIdentifier } from 'pg';
import { STAR_TABLES, STAR_TABLE_NAMES, type StarColumn, type StarTable, type StarTableName } from '../../functions/core/contract/star-tables';
import type { StarRows, TextRow } from './expected-star';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Every star table of the warehouse in `schema`, as text rows sorted by natural key, without surrogate keys. */
export async function readWarehouse(url: string, schema = 'public'): Promise<StarRows> {
  if (!IDENTIFIER.test(schema)) throw new Error(`Warehouse schema "${schema}" is not a lower-case PostgreSQL identifier`);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const out: Partial<StarRows> = {};
    for (const table of STAR_TABLES) {
      const select = table.columns.map((c) => `${textOf(c)} AS ${escapeIdentifier(c.name)}`).join(', ');
      const order = table.key.map((k) => escapeIdentifier(k)).join(', ');
      const sql = `SELECT ${select} FROM ${escapeIdentifier(schema)}.${escapeIdentifier(table.name)} ORDER BY ${order}`;
      try {
        out[table.name] = (await client.query<Record<string, string | null>>(sql)).rows;
      } catch (err) {
        throw new Error(`Reading warehouse table ${schema}.${table.name} failed: ${(err as Error).message}`);
      }
    }
    return out as StarRows;
  } finally {
    await client.end();
  }
}

/** The canonical text of one column value, the same on PostgreSQL and PGlite whatever DateStyle says. */
function textOf(c: StarColumn): string {
  const col = escapeIdentifier(c.name);
  switch (c.type) {
    case 'date': return `to_char(${col}, 'YYYY-MM-DD')`;
    case 'time': return `to_char(DATE '2000-01-01' + ${col}, 'HH24:MI:SS.MS')`;
    case 'text': return col;
    default: return `${col}::text`;
  }
}

/**
 * Every row of every table in `schema` (load ledger and surrogate keys included), as PostgreSQL's own
 * row text: two fingerprints are equal only if nothing in the warehouse changed.
 */
export async function warehouseFingerprint(url: string, schema = 'public'): Promise<Record<string, string[]>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
      [schema],
    );
    const out: Record<string, string[]> = {};
    for (const { table_name } of tables.rows) {
      const sql = `SELECT t::text AS row FROM ${escapeIdentifier(schema)}.${escapeIdentifier(table_name)} t ORDER BY 1`;
      out[table_name] = (await client.query<{ row: string }>(sql)).rows.map((r) => r.row);
    }
    return out;
  } finally {
    await client.end();
  }
}

/** One row as a comparable string: its values in contract column order. */
export function canonicalRow(table: StarTable, row: TextRow): string {
  return JSON.stringify(table.columns.map((c) => {
    if (!(c.name in row)) throw new Error(`Row of ${table.name} has no column ${c.name}: ${JSON.stringify(row)}`);
    return row[c.name];
  }));
}

export interface TableDifference {
  readonly table: StarTableName;
  readonly expectedCount: number;
  readonly actualCount: number;
  /** Rows the oracle expects that the warehouse lacks (first few, canonical form). */
  readonly missing: string[];
  /** Rows the warehouse holds that the oracle does not expect (first few, canonical form). */
  readonly unexpected: string[];
}

/**
 * Table-by-table set difference between the oracle and the warehouse; empty when they agree.
 * Duplicated rows count: a version loaded twice shows up as unexpected.
 */
export function diffStar(expected: StarRows, actual: StarRows, show = 5): TableDifference[] {
  const diffs: TableDifference[] = [];
  for (const name of STAR_TABLE_NAMES) {
    const table = STAR_TABLES.find((t) => t.name === name)!;
    const want = countRows(table, expected[name] ?? []);
    const have = countRows(table, actual[name] ?? []);
    const missing = subtract(want, have);
    const unexpected = subtract(have, want);
    if (missing.length || unexpected.length) {
      diffs.push({
        table: name,
        expectedCount: (expected[name] ?? []).length,
        actualCount: (actual[name] ?? []).length,
        missing: missing.slice(0, show),
        unexpected: unexpected.slice(0, show),
      });
    }
  }
  return diffs;
}

/** A readable report of `diffStar`'s result, with column names so a row can be read without the contract. */
export function describeDifferences(diffs: readonly TableDifference[]): string {
  if (diffs.length === 0) return 'warehouse equals the oracle';
  return diffs.map((d) => {
    const cols = STAR_TABLES.find((t) => t.name === d.table)!.columns.map((c) => c.name).join(', ');
    return [
      `${d.table}: oracle ${d.expectedCount} rows, warehouse ${d.actualCount} rows; columns [${cols}]`,
      ...d.missing.map((r) => `  - missing from warehouse: ${r}`),
      ...d.unexpected.map((r) => `  + unexpected in warehouse: ${r}`),
    ].join('\n');
  }).join('\n');
}

function countRows(table: StarTable, rows: readonly TextRow[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const key = canonicalRow(table, r);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Rows of `a` beyond their count in `b`, sorted so the first differing rows come first. */
function subtract(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [row, n] of a) for (let i = b.get(row) ?? 0; i < n; i++) out.push(row);
  return out.sort();
}
