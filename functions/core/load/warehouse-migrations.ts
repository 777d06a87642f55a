import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { quoteIdent } from '../sql/sql-text';

/**
 * Brings a warehouse schema up to date with `sql/warehouse/*.sql`.
 *
 * Each file is a migration, applied once, in file-name order (`0001_…`, `0002_…`), in its own
 * transaction together with its row in `<schema>.schema_migrations`, so a failed migration leaves
 * nothing half-applied and is retried whole next time. The files never name a schema: they run with
 * `search_path` set to the warehouse schema, so one set of files serves `public` or any other schema.
 *
 * A transaction-level advisory lock serialises migrators (two loads starting together on a fresh
 * warehouse must not both create the tables). An applied migration whose file has since changed is
 * an error: migrations are append-only; change the schema with a new file.
 */

/** A PostgreSQL identifier we are willing to quote into DDL: lower-case letters, digits, underscore. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a warehouse schema name and returns it double-quoted, ready for SQL text. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new Error(
      `Invalid warehouse schema name "${schema}": use 1-63 lower-case letters, digits or underscores, not starting with a digit (e.g. public, totes_dw)`,
    );
  }
  return quoteIdent(schema);
}

export interface WarehouseMigration {
  /** File name without `.sql`, e.g. `0001_star_schema`. */
  version: string;
  file: string;
  sql: string;
  sha256: string;
}

/** Reads the migrations under `<sqlRoot>/sql/warehouse`, in the order they apply. */
export async function readWarehouseMigrations(sqlRoot: string): Promise<WarehouseMigration[]> {
  const dir = path.join(sqlRoot, 'sql', 'warehouse');
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^\d{4}_[a-z0-9_]+\.sql$/.test(n)).sort();
  } catch (err) {
    throw new Error(`Cannot read warehouse migrations in ${dir}: ${(err as Error).message}. Is sqlRoot the folder that contains sql/?`);
  }
  if (names.length === 0) throw new Error(`No warehouse migrations (NNNN_name.sql) found in ${dir}`);
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      const sql = await fs.readFile(file, 'utf8');
      return { version: name.slice(0, -'.sql'.length), file, sql, sha256: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/** Key of the advisory lock that serialises migrations and loads of one warehouse schema. */
export function warehouseLockKey(schema: string): string {
  return `totes-lake/warehouse/${schema}`;
}

/**
 * Creates `schema` if needed and applies every pending migration, one transaction each.
 * The client must not be inside a transaction.
 */
export async function migrateWarehouse(client: pg.Client, schema: string, sqlRoot: string): Promise<MigrationResult> {
  const quoted = quoteSchema(schema);
  const migrations = await readWarehouseMigrations(sqlRoot);
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  // Every run of the load starts here, and a warehouse is almost always up to date: one read tells,
  // instead of a transaction per migration (issue 14, item 1). A migration row is written in the
  // transaction that applied it and never removed, so seeing all of them with their hashes is
  // seeing every migration applied; anything else (a table missing, a row missing, a hash that
  // differs) goes the locked way below, which applies or reports it.
  if (await allApplied(client, schema, migrations)) return { applied: [], alreadyApplied: migrations.map((m) => m.version) };
  for (const migration of migrations) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [warehouseLockKey(schema)]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
      await client.query(`SET LOCAL search_path TO ${quoted}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
           version text PRIMARY KEY,
           sha256 text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await client.query<{ sha256: string }>(`SELECT sha256 FROM ${quoted}.schema_migrations WHERE version = $1`, [
        migration.version,
      ]);
      if (done.rows.length > 0) {
        if (done.rows[0].sha256 !== migration.sha256) {
          throw new Error(
            `Warehouse migration ${migration.file} was applied to schema ${schema} with different content (sha256 ${done.rows[0].sha256}). ` +
              'Applied migrations are never edited: restore the file and put the change in a new migration.',
          );
        }
        result.alreadyApplied.push(migration.version);
      } else {
        try {
          await client.query(migration.sql);
        } catch (err) {
          throw new Error(`Warehouse migration ${migration.file} failed in schema ${schema}: ${(err as Error).message}`);
        }
        await client.query(`INSERT INTO ${quoted}.schema_migrations (version, sha256) VALUES ($1, $2)`, [migration.version, migration.sha256]);
        result.applied.push(migration.version);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  return result;
}

/**
 * True when `<schema>.schema_migrations` records every migration with its file's hash: nothing to
 * do. One statement, outside a transaction: a schema or table not created yet is an error of that
 * statement alone (and means a migration is due).
 */
async function allApplied(client: pg.Client, schema: string, migrations: readonly WarehouseMigration[]): Promise<boolean> {
  let rows: { version: string; sha256: string }[];
  try {
    rows = (await client.query<{ version: string; sha256: string }>(`SELECT version, sha256 FROM ${quoteSchema(schema)}.schema_migrations WHERE version = ANY($1::text[])`, [migrations.map((m) => m.version)])).rows;
  } catch (err) {
    // undefined_table, invalid_schema_name: a warehouse not migrated yet.
    if (['42P01', '3F000'].includes((err as { code?: string }).code ?? '')) return false;
    throw err;
  }
  const applied = new Map(rows.map((r) => [r.version, r.sha256]));
  return migrations.every((m) => applied.get(m.version) === m.sha256);
}
