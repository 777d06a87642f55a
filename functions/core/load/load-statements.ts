import { starPostgresType, type StarTable } from '../contract/star-tables';
import { quoteIdent } from '../sql/sql-text';
import { quoteSchema } from './warehouse-migrations';

/**
 * The SQL text of the load, built only from the star contract (identifiers) and the validated
 * schema name: values always travel as parameters (unnest arrays) or as COPY data, never in the text.
 *
 * Ways to feed rows to the warehouse:
 *  - `unnest`: each column is one array parameter of an INSERT … ON CONFLICT; works everywhere,
 *    including PGlite served over a socket, whose single connection breaks on `COPY … FROM STDIN`;
 *  - `copy`, direct: rows stream with `COPY … FROM STDIN` straight into the target table (one pass,
 *    as fast as the server can ingest). Used for facts (their UNIQUE natural key still refuses a
 *    version twice, failing the COPY) and for a dimension that is still empty (nothing to upsert);
 *  - `copy`, merge: rows stream into a temporary staging table, then one INSERT … SELECT …
 *    ON CONFLICT moves them; used for a dimension's change set, and as the fallback when a direct
 *    COPY meets a version that is already there.
 * Dimensions upsert on their natural key and rewrite a row only when a value differs (no dead
 * tuples for the unchanged majority); facts insert each (id, last_updated) version once.
 *
 * **Two versions, one stamp.** A fact's natural key is `(id, last_updated)`, and `last_updated` has
 * millisecond precision: two writes of one row stamped in the same millisecond (two transactions
 * started together, the second waiting on the first's row lock) are two versions with one key.
 * Each is read by its own batch (a batch reads one version of a row), in commit order, so the later
 * batch carries the later version. The warehouse can keep one row per key: it keeps the later
 * version, with a new surrogate key, so the current views (ordered by surrogate key, i.e. by batch)
 * show what the source holds. The lake keeps both (functions/core/verify/verify.ts tells them from
 * a version read twice by their contents).
 */

export function qualifiedTable(schema: string, table: string): string {
  return `${quoteSchema(schema)}.${quoteIdent(table)}`;
}

/** Name of the per-transaction staging table of the COPY path. */
export function stagingTable(table: StarTable): string {
  return quoteIdent(`load_stage_${table.name}`);
}

const columnList = (table: StarTable): string => table.columns.map((c) => quoteIdent(c.name)).join(', ');

/** `unnest($1::integer[], $2::text[], …) AS u(col, …)`: one array parameter per contract column. */
export function unnestSource(table: StarTable): string {
  const arrays = table.columns.map((c, i) => `$${i + 1}::${starPostgresType(c.type)}[]`).join(', ');
  return `unnest(${arrays}) AS u(${columnList(table)})`;
}

/**
 * INSERT … SELECT … ON CONFLICT for one star table, reading from `source` (an unnest(...) clause
 * or the staging table). Dimensions: upsert, touching only rows that changed. Facts: a version
 * already present with the same values is left as it is; one with the same natural key and other
 * values (a later version stamped in the same millisecond, see the module doc) replaces it and
 * takes a new surrogate key, so it orders after every version loaded before it.
 */
export function mergeStatement(schema: string, table: StarTable, source: string): string {
  const target = qualifiedTable(schema, table.name);
  const cols = columnList(table);
  const key = table.key.map((n) => quoteIdent(n)).join(', ');
  const insert = `INSERT INTO ${target} AS t (${cols}) SELECT ${cols} FROM ${source}`;
  const rest = table.columns.filter((c) => !table.key.includes(c.name)).map((c) => quoteIdent(c.name));
  if (rest.length === 0) return `${insert} ON CONFLICT (${key}) DO NOTHING`;
  const renumber = table.kind === 'fact' && table.surrogateKey ? [`${quoteIdent(table.surrogateKey)} = DEFAULT`] : [];
  const set = [...renumber, ...rest.map((c) => `${c} = EXCLUDED.${c}`)].join(', ');
  const current = rest.map((c) => `t.${c}`).join(', ');
  const incoming = rest.map((c) => `EXCLUDED.${c}`).join(', ');
  return `${insert} ON CONFLICT (${key}) DO UPDATE SET ${set} WHERE (${current}) IS DISTINCT FROM (${incoming})`;
}

export function createStagingStatement(schema: string, table: StarTable): string {
  return `CREATE TEMP TABLE ${stagingTable(table)} ON COMMIT DROP AS SELECT ${columnList(table)} FROM ${qualifiedTable(schema, table.name)} WITH NO DATA`;
}

export function copyStagingStatement(table: StarTable): string {
  return `COPY ${stagingTable(table)} (${columnList(table)}) FROM STDIN (FORMAT binary)`;
}

/** COPY straight into the warehouse table; a fact's identity surrogate key is left to its default. */
export function copyTargetStatement(schema: string, table: StarTable): string {
  return `COPY ${qualifiedTable(schema, table.name)} (${columnList(table)}) FROM STDIN (FORMAT binary)`;
}

/** One row (`empty`: boolean) saying whether the warehouse table holds no row yet. */
export function isEmptyStatement(schema: string, table: StarTable): string {
  return `SELECT NOT EXISTS (SELECT 1 FROM ${qualifiedTable(schema, table.name)}) AS empty`;
}
