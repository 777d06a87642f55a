/**
 * The totesys schema for local runs: applies sql/totesys/*.sql (idempotent) and inspects what is there.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, type ClientBase } from 'pg';
import { SOURCE_TABLES, type SourceTableName } from '../core/contract/source-tables';
import { quoteIdent } from '../core/sql/sql-text';

/** sql/totesys, found from this file whether run from source (tsx, jest) or from a bundle beside the repo. */
export function totesysSqlDir(): string {
  return path.resolve(__dirname, '..', '..', 'sql', 'totesys');
}

/** Creates whatever part of the totesys schema is missing (every statement is create-if-absent). */
export async function applyTotesysSchema(client: ClientBase): Promise<void> {
  const dir = totesysSqlDir();
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  } catch (error) {
    throw new Error(`Cannot read the totesys DDL in ${dir}: ${(error as Error).message}. Run from a checkout of the repository.`, { cause: error });
  }
  for (const file of files) {
    try {
      await client.query(readFileSync(path.join(dir, file), 'utf8'));
    } catch (error) {
      throw new Error(`Applying ${path.join('sql/totesys', file)} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Rows in each totesys table that exists (absent tables are left out). */
export async function totesysRowCounts(client: ClientBase): Promise<Partial<Record<SourceTableName, number>>> {
  const present = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
    [SOURCE_TABLES.map((t) => t.name)],
  );
  const names = new Set(present.rows.map((r) => r.table_name));
  const counts: Partial<Record<SourceTableName, number>> = {};
  for (const table of SOURCE_TABLES) {
    if (!names.has(table.name)) continue;
    const result = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${table.name}"`);
    counts[table.name] = Number(result.rows[0].n);
  }
  return counts;
}

/** Points each serial sequence past the highest id, so inserts after an explicit-id seed do not collide. */
export async function resetTotesysSequences(client: ClientBase): Promise<void> {
  for (const table of SOURCE_TABLES) {
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(${quoteIdent(table.primaryKey)}) FROM ${quoteIdent(table.name)}), 0) + 1, false)`,
      [quoteIdent(table.name), table.primaryKey],
    );
  }
}

/**
 * Runs `body` in one transaction on a new connection to `url`: committed when it returns, rolled
 * back when it throws (the database is then as it was), the connection closed either way. The seed
 * and the simulator write through it.
 */
export async function inTotesysTransaction<T>(url: string, body: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined); // a dropped connection surfaces as the failing query's error
  await client.connect();
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}
