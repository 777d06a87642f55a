/**
 * Connections kept between runs (functions/core/connection-pool.ts): an idle one is handed out
 * again, one left in a transaction or broken is never reused, PGlite's is never kept, and a kept
 * reader adopts the next snapshot exactly as a new connection would.
 */
import pg from 'pg';
import { ConnectionPool } from '../../../functions/core/connection-pool';
import { closeSnapshotReaders, openSnapshotReaders } from '../../../functions/core/extract/snapshot-readers';
import type { Log } from '../../../functions/core/ports/log';
import { urlLocator } from '../../../functions/local/embedded-postgres';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

jest.setTimeout(60_000);
let db: TestDatabase;
const log = { log: { info() {}, warn() {}, error() {}, progress() {}, metric() {} } as Log };
const purpose = { what: 'the test database', applicationName: 'totes-lake-pool-test', hint: '' };

beforeAll(async () => {
  db = await testDatabase('connection_pool');
  const pool = new ConnectionPool();
  const c = await pool.acquire(urlLocator(db.url), purpose);
  await c.query('CREATE TABLE t (id integer PRIMARY KEY)');
  await c.query('INSERT INTO t SELECT generate_series(1, 10)');
  await pool.close();
  await pool.release(c);
});
afterAll(async () => {
  await db?.close();
});

const pid = async (c: pg.Client): Promise<number> => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
const count = async (c: pg.Client): Promise<number> => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM t')).rows[0].n);

it('hands an idle connection out again, and closes it with the pool; never keeps one on PGlite', async () => {
  const pool = new ConnectionPool();
  const locator = urlLocator(db.url);
  const first = await pool.acquire(locator, purpose);
  const firstPid = await pid(first);
  await pool.release(first);
  if (db.kind === 'pglite') {
    expect(pool.size).toBe(0);
    const again = await pool.acquire(locator, purpose);
    await pool.release(again);
    expect(pool.size).toBe(0);
    return;
  }
  expect(pool.size).toBe(1);
  const second = await pool.acquire(locator, purpose);
  expect(second).toBe(first);
  expect(await pid(second)).toBe(firstPid);
  await pool.release(second);
  await pool.close();
  expect(pool.size).toBe(0);
  await expect(second.query('SELECT 1')).rejects.toThrow();
  // Given back after close: closed, not kept.
  const late = await pool.acquire(locator, purpose);
  expect(await pid(late)).not.toBe(firstPid);
  await pool.release(late);
  expect(pool.size).toBe(0);
});

it('closes a connection given back inside a transaction or after a failure, and one discarded', async () => {
  if (db.kind === 'pglite') return console.warn('skipped: PGlite connections are never kept');
  const pool = new ConnectionPool();
  const locator = urlLocator(db.url);
  const inTransaction = await pool.acquire(locator, purpose);
  await inTransaction.query('BEGIN');
  await pool.release(inTransaction);
  expect(pool.size).toBe(0);
  const failed = await pool.acquire(locator, purpose);
  await failed.query('BEGIN');
  await expect(failed.query('SELECT 1/0')).rejects.toThrow();
  await pool.release(failed);
  expect(pool.size).toBe(0);
  const discarded = await pool.acquire(locator, purpose);
  pool.discard(discarded);
  await pool.release(discarded);
  expect(pool.size).toBe(0);
  await pool.close();
});

it.each([
  ['seen ended while kept', 1_000_000],
  ['found broken by the check before its use', 0],
])('replaces a kept connection the server dropped (%s) with a new one, never reusing it', async (_how, checkAfterIdleMs) => {
  if (db.kind === 'pglite') return console.warn('skipped: PGlite connections are never kept');
  const pool = new ConnectionPool({ checkAfterIdleMs });
  const locator = urlLocator(db.url);
  const kept = await pool.acquire(locator, purpose);
  const keptPid = await pid(kept);
  await pool.release(kept);
  expect(pool.size).toBe(1);
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend($1)', [keptPid]);
    if (checkAfterIdleMs > 0) {
      // Wait for the socket's end to reach the client.
      for (let i = 0; i < 100 && (kept as unknown as { _ending?: boolean; _queryable?: boolean })._queryable !== false; i++) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await admin.end();
  }
  const next = await pool.acquire(locator, purpose);
  expect(next).not.toBe(kept);
  expect(await pid(next)).not.toBe(keptPid);
  expect(await count(next)).toBe(10);
  await pool.release(next);
  await pool.close();
});

it('gives a kept reader the next snapshot exactly as a new one: rows committed in between are seen, later ones are not', async () => {
  if (db.kind === 'pglite') return console.warn('snapshot sharing skipped: PGlite serves one connection at a time');
  const pool = new ConnectionPool({ checkAfterIdleMs: 0 });
  const locator = urlLocator(db.url);
  const connect = () => pool.acquire(locator, purpose);
  const release = (c: pg.Client) => pool.release(c);
  const writer = new pg.Client({ connectionString: db.url });
  await writer.connect();
  try {
    for (const expected of [10, 11]) {
      const exporter = await connect();
      await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      expect(await count(exporter)).toBe(expected);
      await writer.query('INSERT INTO t VALUES ($1)', [100 + expected]);
      const readers = await openSnapshotReaders(log, exporter, 3, connect, release);
      expect(readers).toHaveLength(2);
      for (const reader of readers) expect(await count(reader)).toBe(expected);
      await closeSnapshotReaders(readers, release);
      await exporter.query('COMMIT');
      await release(exporter);
      expect(pool.size).toBe(3);
    }
  } finally {
    await writer.query('DELETE FROM t WHERE id > 10');
    await writer.end();
    await pool.close();
  }
});
