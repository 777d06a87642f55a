import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { embeddedPostgresProcess, testDatabase } from '../support/test-postgres';

// startEmbeddedPostgres runs in a child process: jest's VM cannot host PGlite without --experimental-vm-modules.
describe('embedded PostgreSQL (PGlite over a socket)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'totes-embedded-test-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  it('keeps its data across close and reopen of the same data directory, and serves what the pipeline needs', async () => {
    const first = await embeddedPostgresProcess(dataDir, 'persist');
    try {
      await query(first.url, 'CREATE TABLE kept (id int PRIMARY KEY, at timestamp(3), amount numeric(10,2))');
      await query(first.url, "INSERT INTO kept SELECT g, timestamp '2025-01-01 00:00:00.123' + g * interval '1 hour', g * 1.25 FROM generate_series(1, 500) g");

      // One client after another, each with a REPEATABLE READ snapshot, a cursor and a COPY TO.
      const client = new Client({ connectionString: first.url });
      await client.connect();
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query('DECLARE c NO SCROLL CURSOR FOR SELECT id, at::text AS at FROM kept ORDER BY id');
      const fetched = [(await client.query('FETCH 200 FROM c')).rowCount, (await client.query('FETCH 400 FROM c')).rowCount];
      await client.query('COMMIT');
      let copied = '';
      await pipeline(client.query(copyTo('COPY (SELECT id, at, amount FROM kept WHERE id <= 2 ORDER BY id) TO STDOUT')),
        new Writable({ write(chunk: Buffer, _e, done) { copied += chunk.toString(); done(); } }));
      await client.end();
      expect(fetched).toEqual([200, 300]);
      expect(copied).toBe('1\t2025-01-01 01:00:00.123\t1.25\n2\t2025-01-01 02:00:00.123\t2.50\n');
    } finally {
      await first.close();
    }

    const again = await embeddedPostgresProcess(dataDir, 'persist');
    try {
      expect(await query(again.url, 'SELECT count(*)::int AS n, max(at)::text AS last FROM kept')).toEqual([{ n: 500, last: '2025-01-21 20:00:00.123' }]);
    } finally {
      await again.close();
    }
  });

  it('serves two clients at once, the second waiting while the first is inside a transaction', async () => {
    const db = await testDatabase('concurrent', { kind: 'pglite' });
    const [one, two] = [new Client({ connectionString: db.url }), new Client({ connectionString: db.url })];
    try {
      await one.connect();
      await two.connect();
      await one.query('CREATE TABLE t (id int)');
      await one.query('BEGIN');
      await one.query('INSERT INTO t VALUES (1)');
      const seenByTwo = two.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
      await one.query('COMMIT');
      expect((await seenByTwo).rows).toEqual([{ n: 1 }]);
    } finally {
      await one.end();
      await two.end();
      await db.close();
    }
  });

  it('describes a plain URL without its password', () => {
    const locator = urlLocator('postgres://totes:s3cret@db.example.com:5432/totesys?sslmode=require');
    expect(locator.description).not.toContain('s3cret');
    expect(locator.description).toContain('db.example.com');
    expect(() => urlLocator('not a url')).toThrow(/not a valid URL/);
  });
});
