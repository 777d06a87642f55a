/**
 * Bulk writes of generated totesys rows, in the fastest form each kind of server accepts.
 *
 * A real PostgreSQL server takes `COPY … FROM STDIN` (pg-copy-streams): hundreds of thousands of
 * rows a second. PGlite served over pglite-socket loses protocol sync on COPY FROM STDIN and drops
 * the connection, so there rows go in as `INSERT … SELECT … FROM unnest($1::text[], …)` in chunks —
 * one statement and one round trip per chunk, every value a parameter.
 *
 * Rows are arrays of PostgreSQL text-format values (or null) in the contract's column order, so both
 * paths store exactly the same values.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { postgresCastType, sourceTable, type SourceTableName } from '../core/contract/source-tables';
import { quoteIdent } from '../core/sql/sql-text';

export type Row = readonly (string | null)[];
export type WriteMethod = 'copy' | 'insert';

export interface RowWriter {
  readonly method: WriteMethod;
  /** Appends rows (every contract column, in contract order) to a totesys table. */
  write(table: SourceTableName, rows: readonly Row[]): Promise<void>;
}

/** Rows per INSERT … unnest statement: large enough to amortise the round trip, small enough for PGlite's memory. */
const INSERT_CHUNK = 5000;

export function rowWriter(client: ClientBase, method: WriteMethod): RowWriter {
  return method === 'copy' ? copyWriter(client) : insertWriter(client);
}

function insertWriter(client: ClientBase): RowWriter {
  const statements = new Map<SourceTableName, string>();
  const statementFor = (name: SourceTableName): string => {
    let sql = statements.get(name);
    if (!sql) {
      const { columns } = sourceTable(name);
      const names = columns.map((c) => quoteIdent(c.name)).join(', ');
      const casts = columns.map((c) => `u.${quoteIdent(c.name)}::${postgresCastType(c.type)}`).join(', ');
      const arrays = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
      sql = `INSERT INTO ${quoteIdent(name)} (${names}) SELECT ${casts} FROM unnest(${arrays}) AS u(${names})`;
      statements.set(name, sql);
    }
    return sql;
  };
  return {
    method: 'insert',
    async write(table, rows) {
      const width = sourceTable(table).columns.length;
      for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
        const chunk = rows.slice(start, start + INSERT_CHUNK);
        const arrays: (string | null)[][] = Array.from({ length: width }, () => new Array<string | null>(chunk.length));
        chunk.forEach((row, r) => row.forEach((value, c) => (arrays[c][r] = value)));
        try {
          await client.query(statementFor(table), arrays);
        } catch (error) {
          throw new Error(`Inserting ${chunk.length} generated rows into totesys.${table} failed: ${(error as Error).message}`, { cause: error });
        }
      }
    },
  };
}

/** COPY text format: backslash, tab, newline and carriage return escaped; null is \N. */
function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] ?? c) : value;
}

function copyWriter(client: ClientBase): RowWriter {
  return {
    method: 'copy',
    async write(table, rows) {
      if (rows.length === 0) return;
      const names = sourceTable(table).columns.map((c) => quoteIdent(c.name)).join(', ');
      const lines = function* (): Generator<string> {
        // Batches of lines, so the stream carries a few large chunks rather than one per row.
        for (let start = 0; start < rows.length; start += 2000) {
          let text = '';
          for (const row of rows.slice(start, start + 2000)) text += row.map(copyValue).join('\t') + '\n';
          yield text;
        }
      };
      try {
        await pipeline(Readable.from(lines()), client.query(copyFrom(`COPY ${quoteIdent(table)} (${names}) FROM STDIN`)));
      } catch (error) {
        throw new Error(`COPY of ${rows.length} generated rows into totesys.${table} failed: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}
