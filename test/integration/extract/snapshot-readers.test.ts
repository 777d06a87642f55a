/**
 * Readers that share the extract's snapshot (functions/core/extract/snapshot-readers.ts): they see
 * exactly what the extract's own transaction sees — not a row committed after the snapshot — and
 * the extract falls back to fewer readers (down to none) where sharing is not possible.
 */
import pg from 'pg';
import { closeSnapshotReaders, openSnapshotReaders } from '../../../functions/core/extract/snapshot-readers';
import type { Log } from '../../../functions/core/ports/log';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

jest.setTimeout(60_000);
let db: TestDatabase;
const opened: pg.Client[] = [];
const infos: string[] = [];
const log = { log: { info: (m: string) => void infos.push(m), warn() {}, error() {}, progress() {}, metric() {} } as Log };

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  opened.push(c);
  return c;
}

beforeAll(async () => {
  db = await testDatabase('snapshot_readers');
  const c = await connect();
  await c.query('CREATE TABLE t (id integer PRIMARY KEY)');
  await c.query('INSERT INTO t SELECT generate_series(1, 10)');
});
afterAll(async () => {
  for (const c of opened) await c.end().catch(() => undefined);
  await db?.close();
});
beforeEach(() => void (infos.length = 0));

const count = async (c: pg.Client): Promise<number> => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM t')).rows[0].n);

it('gives readers the exporting transaction\'s snapshot: a row committed after it is invisible to all of them', async () => {
  if (db.kind === 'pglite') return console.warn('snapshot sharing skipped: PGlite serves one connection at a time');
  const exporter = await connect();
  await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  expect(await count(exporter)).toBe(10); // the first statement fixes the snapshot
  const writer = await connect();
  await writer.query('INSERT INTO t VALUES (11)');
  const readers = await openSnapshotReaders(log, exporter, 3, connect);
  expect(readers).toHaveLength(2);
  for (const reader of readers) expect(await count(reader)).toBe(10);
  expect(await count(writer)).toBe(11);
  await closeSnapshotReaders(readers);
  await exporter.query('COMMIT');
  await writer.query('DELETE FROM t WHERE id = 11');
});

it('reads with fewer connections when a reader cannot connect, and with none when asked for one', async () => {
  if (db.kind === 'pglite') return console.warn('snapshot sharing skipped: PGlite serves one connection at a time');
  const exporter = await connect();
  await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  await count(exporter);
  let attempts = 0;
  const flaky = async (): Promise<pg.Client> => {
    if (++attempts === 2) throw new Error('too many connections for role "totes"');
    return connect();
  };
  const readers = await openSnapshotReaders(log, exporter, 4, flaky);
  expect(readers).toHaveLength(1);
  expect(infos.join('\n')).toMatch(/could not open reader 3 of 4 .*too many connections.*reading with 2/);
  await closeSnapshotReaders(readers);
  await exporter.query('COMMIT');
  expect(await openSnapshotReaders(log, exporter, 1, connect)).toEqual([]);
});

it('uses no readers on PGlite, which serves one connection at a time', async () => {
  const embedded = await testDatabase('snapshot_readers_pglite', { kind: 'pglite' });
  try {
    const c = new pg.Client({ connectionString: embedded.url });
    await c.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await c.query('SELECT 1');
      expect(await openSnapshotReaders(log, c, 2, () => Promise.reject(new Error('must not connect')))).toEqual([]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  } finally {
    await embedded.close();
  }
});
