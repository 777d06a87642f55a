import { BATCH_ID_COLUMN, type SourceTable } from '../contract/source-tables';
import type { Cursor, ExtractTable } from '../lake/manifests';
import { quoteIdent } from '../sql/sql-text';

/**
 * Pure planning of what one extract reads from one table. No I/O here, so the boundary rules
 * below are unit-tested without a database.
 *
 * A table is read in `(last_updated, primary key)` order. One batch reads the rows strictly after
 * the table's cursor and strictly before the batch's upper bound:
 *
 *   (last_updated, pk) > (cursor.lastUpdated, cursor.id)   -- strict: the cursor row was read last time
 *   AND last_updated < upperBound                            -- strict: see below
 *
 * Why strict on the upper bound: the bound is the snapshot clock (or the start of the oldest open
 * transaction, whichever is earlier), truncated to the millisecond of `timestamp(3)`. A writer
 * still in flight stamps `last_updated` no earlier than its own start, which rounds to at least the
 * truncated bound; excluding the bound itself means that writer's rows are read by a later batch
 * instead of being passed over when it commits. Rows tied on `last_updated` below the bound are
 * all committed and visible in our snapshot, so the pk tie-break reads each exactly once.
 */

/** 'YYYY-MM-DD HH:MM:SS.mmm', the text form of a `timestamp(3)` we keep in manifests (UTC). */
export const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/;

export function assertTimestampText(value: string, what: string): string {
  if (!TIMESTAMP_TEXT.test(value)) throw new Error(`${what} "${value}" is not a timestamp of the form YYYY-MM-DD HH:MM:SS.mmm`);
  return value;
}

export interface TableWindow {
  table: SourceTable;
  /** Rows after this position (exclusive); null on the first extract of the table. */
  from: Cursor | null;
  /** Rows before this instant (exclusive). */
  upperBound: string;
}

export function planWindow(table: SourceTable, previous: ExtractTable | undefined, upperBound: string): TableWindow {
  assertTimestampText(upperBound, `Upper bound for ${table.name}`);
  const from = previous?.cursor ?? null;
  if (from) assertTimestampText(from.lastUpdated, `Cursor of ${table.name}`);
  if (from && from.lastUpdated >= upperBound) {
    // The bound went backwards (a clock step, or a long transaction opened since): read nothing
    // now rather than re-read; the bound catches up on a later run.
    return { table, from, upperBound: from.lastUpdated };
  }
  return { table, from, upperBound };
}

/** Newest `last_updated` of the table seen so far (used for freshness). */
export function maxTimestamp(a: string | null | undefined, b: string | null | undefined): string | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return a > b ? a : b;
}

/** Session settings the extract query reads its window from (values are bound with set_config). */
export const WINDOW_SETTINGS = {
  fromTs: 'totes.from_ts',
  fromId: 'totes.from_id',
  upperBound: 'totes.upper_bound',
  limit: 'totes.chunk_rows',
} as const;

/**
 * How a window's rows come out of `COPY … TO STDOUT`: `json`, one JSON object text per row rendered
 * by PostgreSQL (`json_build_object`); `columns`, the plain columns in contract order, which Node
 * renders to the same JSON text (copy-json.ts).
 */
export type RowRendering = 'json' | 'columns';

/** The JSON object PostgreSQL renders for one row of `table` (the columns of an inner SELECT). */
export function jsonObjectOf(table: SourceTable): string {
  const fields = table.columns.map((c) => {
    const col = quoteIdent(c.name);
    const value = c.type === 'timestamp(3)' ? `to_char(${col}, 'YYYY-MM-DD HH24:MI:SS.MS')` : c.type.startsWith('enum:') ? `${col}::text` : col;
    return `'${c.name}', ${value}`;
  });
  return `json_build_object(${fields.join(', ')})::text`;
}

/** The outer select list of a window or rescue SELECT for a rendering. */
export function renderedRow(table: SourceTable, rendering: RowRendering): string {
  return rendering === 'json' ? jsonObjectOf(table) : table.columns.map((c) => quoteIdent(c.name)).join(', ');
}

/**
 * The SELECT that renders each row of the window, ready for `COPY … TO STDOUT`: as one JSON object
 * (`json`) or as its plain columns (`columns`, rendered to the same JSON by copy-json.ts).
 *
 * `chunked` adds a `LIMIT` read from a setting: how the extract read a window before it took one
 * COPY per window (extract.ts `readWindow`); the extract benches still compare the two.
 *
 * COPY cannot take bind parameters, so the window's values are set beforehand with the
 * parameterized `set_config(...)` and read here with `current_setting(...)`: the statement text
 * holds identifiers from the table contract only, never a value.
 */
export function windowSelect(window: TableWindow, chunked = false, alsoWhere?: string, rendering: RowRendering = 'json'): string {
  const t = window.table;
  const pk = quoteIdent(t.primaryKey);
  // Each setting is read in a scalar subquery: PostgreSQL evaluates it once (an InitPlan) instead
  // of calling current_setting() and parsing its text for every row the scan filters, which made a
  // window over an unchanged 1.4M-row table cost about 8× more than the scan itself.
  const after = window.from
    ? `("last_updated", ${pk}) > ((SELECT current_setting('${WINDOW_SETTINGS.fromTs}')::timestamp(3)), (SELECT current_setting('${WINDOW_SETTINGS.fromId}')::integer)) AND `
    : '';
  // The window is chosen and sorted on the plain columns in a subquery; the JSON is rendered
  // outside it, only for the rows the window keeps. Rendering in the same SELECT as the ORDER BY …
  // LIMIT made PostgreSQL build the JSON of every row of the table for each chunk and sort those
  // wide texts (an external merge on disk): chunk k of a big table cost a whole-table render. The
  // outer ORDER BY repeats the subquery's, so the order is guaranteed; the planner sees the input
  // already sorted and adds no second sort.
  const columns = t.columns.map((c) => quoteIdent(c.name)).join(', ');
  return (
    `SELECT ${renderedRow(t, rendering)} FROM (` +
    `SELECT ${columns} FROM ${quoteIdent(t.name)} ` +
    `WHERE ${after}"last_updated" < (SELECT current_setting('${WINDOW_SETTINGS.upperBound}')::timestamp(3)) ${alsoWhere ? `AND ${alsoWhere} ` : ''}` +
    `ORDER BY "last_updated", ${pk}` +
    (chunked ? ` LIMIT current_setting('${WINDOW_SETTINGS.limit}')::bigint` : '') +
    `) AS w ORDER BY "last_updated", ${pk}`
  );
}

/** Appends the batch id to one row's JSON object text (the batch id is validated by the caller). */
export function withBatchId(jsonObject: string, batchId: string): string {
  const end = jsonObject.lastIndexOf('}');
  if (end < 0) throw new Error(`Row is not a JSON object: ${jsonObject.slice(0, 80)}`);
  return `${jsonObject.slice(0, end)}, "${BATCH_ID_COLUMN}" : "${batchId}"}`;
}

/** Reads the cursor position out of a row's JSON (the last row of a window). */
export function cursorOf(table: SourceTable, row: Record<string, unknown>): Cursor {
  const lastUpdated = row.last_updated;
  const id = row[table.primaryKey];
  if (typeof lastUpdated !== 'string' || typeof id !== 'number') {
    throw new Error(`Row of ${table.name} lacks last_updated or ${table.primaryKey}: ${JSON.stringify(row).slice(0, 200)}`);
  }
  return { lastUpdated: assertTimestampText(lastUpdated, `last_updated of ${table.name} ${id}`), id };
}
