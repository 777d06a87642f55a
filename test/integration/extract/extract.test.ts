import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { extract } from '../../../functions/core/extract/extract';
import { widenXid, widenXidSql } from '../../../functions/core/extract/late-commits';
import { extractManifestKey, extractProgressPrefix } from '../../../functions/core/lake/lake-layout';
import { getText } from '../../../functions/core/ports/object-store';
import { readExtractHeartbeat } from '../../../functions/core/lake/extract-heartbeat';
import { latestExtractManifest, readExtractManifest } from '../../../functions/core/lake/manifest-log';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import { urlLocator } from '../../../functions/local/embedded-postgres';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { Catalog } from '../../../functions/core/ports/catalog';
import { openFolderPipeline, unusedPort } from '../../../functions/local/folder-pipeline';
import { testDatabase } from '../../support/test-postgres';

/**
 * The extract against a real PostgreSQL (embedded PGlite where no server can be started): the
 * window rules of extract-window.ts, proven on rows a test controls to the millisecond.
 */

const REPO = path.resolve(__dirname, '../../..');
let db: Awaited<ReturnType<typeof testDatabase>>;
let client: pg.Client;

beforeAll(async () => {
  db = await testDatabase('extract');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(await fs.readFile(path.join(REPO, 'sql/totesys/001_totesys.sql'), 'utf8'));
  await client.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES
    (1, 'GBP', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
    (2, 'USD', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962')`);
  await client.query(`INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated) VALUES
    (1, 'Sales', NULL, 'Back\\slash "quoted" Zoë', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962')`);
  // With PGlite only one connection may be open at a time: release it while the pipeline runs.
  if (db.kind === 'pglite') await client.end();
});

afterAll(async () => {
  if (db.kind !== 'pglite') await client.end();
  await db.close();
});

async function withClient<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  if (db.kind !== 'pglite') return work(client);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/**
 * Runs `sql` in a session of its own and ends it. A backend reports its statistics (the deletion
 * signature the extract reads) when it exits, and `end()` waits for the server to close the socket,
 * which it does only as the backend exits: a deletion made here is visible to the next extract.
 */
async function inClosedSession(sql: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

async function listKeys(store: PipelineContext['processed'], prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
}

async function makeContext(): Promise<PipelineContext> {
  const lake = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-extract-'));
  const { ctx } = await openFolderPipeline({ lake, engine: unusedPort<QueryEngine>('engine'), catalog: unusedPort<Catalog>('catalog'), source: db.url });
  return ctx;
}

/** The text of every statement the source's clients were sent while `work` ran, in order. */
async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const original = pg.Client.prototype.query;
  const spy = jest.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    sent.push(typeof first === 'string' ? first : (first?.text ?? ''));
    return (original as (...a: unknown[]) => unknown).apply(this, args) as never;
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return sent;
}

async function rawRows(ctx: PipelineContext, key: string): Promise<Record<string, unknown>[]> {
  const text = gunzipSync(await ctx.ingestion.get(key)).toString('utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function tableRows(ctx: PipelineContext, table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const { key } of ctx.ingestion.list(`raw/${table}/`)) for (const row of await rawRows(ctx, key)) rows.push(row);
  return rows;
}

describe('extract', () => {
  let ctx: PipelineContext;
  beforeAll(async () => {
    ctx = await makeContext();
  });

  it('takes every row on the first run, as typed JSON with the batch id, and publishes a manifest last', async () => {
    const result = await extract(ctx);
    expect(result.published).toBe(true);
    expect(result.rows.currency).toBe(2);
    const manifest = await readExtractManifest(ctx.ingestion, 1);
    expect(manifest.batchId).toBe(result.batchId);
    expect(manifest.tables.currency.files).toHaveLength(1);
    expect(manifest.tables.sales_order.files).toHaveLength(0);
    const [dept] = await rawRows(ctx, manifest.tables.department.files[0].key);
    expect(dept).toEqual({
      department_id: 1,
      department_name: 'Sales',
      location: null,
      manager: 'Back\\slash "quoted" Zoë',
      created_at: '2022-11-03 14:20:49.962',
      last_updated: '2022-11-03 14:20:49.962',
      _batch_id: result.batchId,
    });
    const keys: string[] = [];
    for await (const o of ctx.ingestion.list('')) keys.push(o.key);
    expect(keys.some((k) => k.includes('_prisma_migrations'))).toBe(false);
    expect(manifest.tables.currency.files[0].key).toMatch(/^raw\/currency\/dt=\d{4}-\d{2}-\d{2}\/0000000001-\d{8}T\d{6}Z-[0-9a-f]{4}\.ndjson\.gz$/);
  });

  it('publishes no batch when nothing changed, only a heartbeat of its bound after the newest batch', async () => {
    const result = await extract(ctx);
    expect(result).toMatchObject({ published: false, reason: 'nothing-new' });
    const batch1 = await readExtractManifest(ctx.ingestion, 1);
    const heartbeat = await readExtractHeartbeat(ctx.processed, 1);
    expect(heartbeat).toMatchObject({ afterSeq: 1, afterBatchId: batch1.batchId, upperBound: result.upperBound });
    expect(heartbeat!.upperBound > batch1.tables.currency.window.upperBound).toBe(true);
    // The next quiet run replaces it: one object per batch however long the quiet lasts.
    const again = await extract(ctx);
    expect((await readExtractHeartbeat(ctx.processed, 1))!.upperBound).toBe(again.upperBound);
    expect(await listKeys(ctx.processed, 'heartbeats/')).toEqual(['heartbeats/extract/0000000001.json']);
    expect(await listKeys(ctx.ingestion, 'manifests/')).toEqual(['manifests/extract/0000000001.json']);
  });

  it('reads rows tied on last_updated across the cursor exactly once', async () => {
    const ts = '2023-01-01 00:00:00.500';
    await withClient((c) =>
      c.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) SELECT g, 'X' || g, $1::timestamp, $1::timestamp FROM generate_series(10, 14) g`, [ts]),
    );
    const first = await extract(ctx);
    expect(first.rows.currency).toBe(5);
    // More rows with the very same last_updated and larger ids: after the cursor (ts, 14).
    await withClient((c) =>
      c.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) SELECT g, 'Y' || g, $1::timestamp, $1::timestamp FROM generate_series(15, 17) g`, [ts]),
    );
    const second = await extract(ctx);
    expect(second.rows.currency).toBe(3);
    const ids = (await tableRows(ctx, 'currency')).map((r) => r.currency_id);
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual([1, 2, 10, 11, 12, 13, 14, 15, 16, 17]);
  });

  it('reads an updated row again as a new version', async () => {
    await withClient((c) => c.query(`UPDATE currency SET currency_code = 'EUR', last_updated = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE currency_id = 2`));
    const result = await extract(ctx);
    expect(result.rows.currency).toBe(1);
    const versions = (await tableRows(ctx, 'currency')).filter((r) => r.currency_id === 2).map((r) => r.currency_code);
    expect(versions.sort()).toEqual(['EUR', 'USD']);
  });

  it('asks the small tables in one statement whether anything is new, and reads only those that changed', async () => {
    const before = (await latestExtractManifest(ctx.ingestion))!;
    await withClient((c) => c.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (30, 'NEW', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`));
    let result: Awaited<ReturnType<typeof extract>> | undefined;
    const sent = await statementsOf(async () => (result = await extract(ctx)));
    expect(result!.manifest).toMatchObject({ seq: before.seq + 1, tables: { currency: { rows: 1 } } });
    // Every table was asked in one statement; only currency, which changed, was read (band and window).
    expect(sent.filter((q) => q.startsWith('SELECT EXISTS'))).toHaveLength(1);
    const copies = sent.filter((q) => q.startsWith('COPY'));
    expect(copies).toHaveLength(2);
    for (const copy of copies) expect(copy).toMatch(/ FROM "currency" /);
    // An unread table reads as a read that found nothing would: its cursor kept, no file.
    expect(result!.manifest!.tables.department).toMatchObject({
      files: [],
      rows: 0,
      cursor: before.tables.department.cursor,
      maxLastUpdated: before.tables.department.maxLastUpdated,
      window: { from: before.tables.department.cursor, upperBound: result!.upperBound },
    });
  });

  it('still rescues a late commit of a small table that looks unchanged by its stamp (the probe asks the band too)', async () => {
    if (db.kind === 'pglite') {
      console.warn('late-commit scenario skipped: embedded PGlite allows one connection, so no transaction can stay open beside the extract');
      return;
    }
    // An honest commit first: the extract's cursor for department moves to its stamp.
    await client.query(`INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated)
                        VALUES (2, 'Purchasing', NULL, 'honest', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`);
    await new Promise((r) => setTimeout(r, 5));
    const late = new pg.Client({ connectionString: db.url });
    await late.connect();
    try {
      await late.query('BEGIN');
      // Stamped by a clock 2 s behind the database, so below that cursor; committed after the next extract.
      await late.query(`UPDATE department SET manager = 'late', last_updated = (now() AT TIME ZONE 'UTC') - interval '2 s' WHERE department_id = 1`);
      const during = await extract(ctx);
      expect(during.rows.department).toBe(1);
      await late.query('COMMIT');
    } finally {
      await late.end();
    }
    // Nothing of department is stamped after its cursor now: only the band's visibility test finds the version.
    const next = await extract(ctx);
    expect(next.manifest?.tables.department.rescued?.rows).toBe(1);
    const managers = (await tableRows(ctx, 'department')).map((r) => r.manager);
    expect(managers.filter((m) => m === 'late')).toHaveLength(1);
  });

  it('holds the bound behind a transaction that stamped last_updated and commits late', async () => {
    if (db.kind === 'pglite') {
      console.warn('late-commit scenario skipped: embedded PGlite allows one connection, so no transaction can stay open beside the extract');
      return;
    }
    const late = new pg.Client({ connectionString: db.url });
    await late.connect();
    try {
      await late.query('BEGIN');
      await late.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (100, 'LAT', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`);
      await new Promise((r) => setTimeout(r, 20));
      // A later writer commits first, with a later last_updated.
      await client.query(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (101, 'ERL', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`);
      const during = await extract(ctx);
      expect(during.rows.currency ?? 0).toBe(0); // 101 is held back too: it is after the open transaction's start
      await late.query('COMMIT');
    } finally {
      await late.end();
    }
    const after = await extract(ctx);
    expect(after.rows.currency).toBe(2);
    const ids = (await tableRows(ctx, 'currency')).map((r) => r.currency_id);
    expect(ids.filter((id) => id === 100 || id === 101).sort()).toEqual([100, 101]);
  });

  it('detects a deleted row without a query engine (the extract Lambda has none) and marks it once', async () => {
    await inClosedSession('DELETE FROM currency WHERE currency_id = 13');
    const result = await extract(ctx); // ctx.engine throws on any use
    expect(result.published).toBe(true);
    expect(result.manifest!.tables.currency.deletions?.ids).toEqual([13]);
    const again = await extract(ctx);
    expect(again).toMatchObject({ published: false, reason: 'nothing-new' });
  });

  it('stops with a clear error, writing nothing, when the source no longer matches the contract', async () => {
    const before = await extractManifestCount(ctx);
    await withClient((c) => c.query('ALTER TABLE design RENAME COLUMN file_name TO file'));
    try {
      await expect(extract(ctx)).rejects.toThrow(/column design\.file_name is missing.*Nothing was extracted/);
    } finally {
      await withClient((c) => c.query('ALTER TABLE design RENAME COLUMN file TO file_name'));
    }
    expect(await extractManifestCount(ctx)).toBe(before);
  });

  it('names the database when it cannot connect', async () => {
    const bad = { ...ctx, source: urlLocator('postgres://nobody@127.0.0.1:1/none') };
    await expect(extract(bad)).rejects.toThrow(/Cannot connect to totesys at .*127\.0\.0\.1:1/);
  });
});

async function extractManifestCount(ctx: PipelineContext): Promise<number> {
  let n = 0;
  for await (const _ of ctx.ingestion.list('manifests/extract/')) n++;
  return n;
}

describe('extract of a long first load', () => {
  it('fails, instead of waiting forever, when the store stops taking a large upload', async () => {
    await withClient((c) =>
      c.query(`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated)
               SELECT g, 'Design ' || g, '/designs/' || md5(g::text), md5(g::text) || '.json', '2023-01-01', '2023-01-01' FROM generate_series(1000, 21000) g`),
    );
    try {
      const ctx = await makeContext();
      // A store that refuses the design upload at once and never reads its stream (like S3 failing
      // early): 20,000 rows fill every buffer, so the extract must notice the failure, not wait.
      const putStream = ctx.ingestion.putStream.bind(ctx.ingestion);
      ctx.ingestion.putStream = async (key, body, opts) => {
        if (key.startsWith('raw/design/')) throw new Error('S3 said no (injected)');
        return putStream(key, body, opts);
      };
      await expect(extract(ctx)).rejects.toThrow(/Extract of design failed while streaming rows: S3 said no/);
      expect(await extractManifestCount(ctx)).toBe(0);
    } finally {
      await withClient((c) => c.query('DELETE FROM design WHERE design_id >= 1000'));
    }
  });

  it('reads a large window in chunks, one file per chunk, each row once', async () => {
    const ctx = await makeContext();
    const whole = await makeContext();
    const chunked = await extract(ctx, { chunkRows: 2 });
    const single = await extract(whole);
    expect(chunked.rows).toEqual(single.rows);
    const files = chunked.manifest!.tables.currency.files;
    expect(files.length).toBe(Math.ceil(single.rows.currency! / 2));
    expect(files[0].key).not.toMatch(/-p\d{4}-/);
    expect(files[1].key).toMatch(/-p0001-[0-9a-f]{4}\.ndjson\.gz$/);
    const ids = (rows: Record<string, unknown>[]) => rows.map((r) => `${r.currency_id}@${r.last_updated}`).sort();
    expect(ids(await tableRows(ctx, 'currency'))).toEqual(ids(await tableRows(whole, 'currency')));
  });

  it('tells onTableRead each table\'s files once it is read whole, while the extract runs: the keys the manifest then lists; a hook that throws changes nothing', async () => {
    const ctx = await makeContext();
    const told: { table: string; keys: readonly string[]; manifests: number }[] = [];
    let published = 0;
    const put = ctx.ingestion.put.bind(ctx.ingestion);
    ctx.ingestion.put = async (key, body, opts) => {
      const done = await put(key, body, opts);
      if (key === extractManifestKey(1)) published += 1;
      return done;
    };
    const result = await extract(ctx, {
      chunkRows: 1,
      onTableRead: (table, keys) => {
        told.push({ table, keys, manifests: published });
        if (table === 'currency') throw new Error('a hook that fails (injected)');
      },
    });
    expect(result.published).toBe(true);
    const withFiles = Object.entries(result.manifest!.tables).filter(([, t]) => t.files.length > 0);
    expect(told.map((t) => t.table).sort()).toEqual(withFiles.map(([name]) => name).sort());
    for (const [name, table] of withFiles) expect(told.find((t) => t.table === name)!.keys).toEqual(table.files.map((f) => f.key));
    expect(result.manifest!.tables.currency.files.length).toBeGreaterThan(1);
    // Every table was told before the batch was published.
    expect(told.every((t) => t.manifests === 0)).toBe(true);
    expect(published).toBe(1);
  });

  it('stops at a chunk boundary when the time budget runs out, publishes nothing, and the next run resumes the same batch', async () => {
    const ctx = await makeContext();
    const reference = await makeContext();
    let late = false;
    const store = ctx.ingestion;
    const putStream = store.putStream.bind(store);
    store.putStream = async (key, body, opts) => {
      const result = await putStream(key, body, opts);
      late = true; // the budget runs out once the first chunk is written
      return result;
    };
    const deadline = new Date('2100-01-01T00:00:00Z');
    const clock = () => (late ? new Date('2100-01-02T00:00:00Z') : new Date());
    const first = await extract({ ...ctx, now: clock }, { chunkRows: 2, deadline });
    expect(first).toMatchObject({ published: false, reason: 'continued' });
    expect(await extractManifestCount(ctx)).toBe(0);

    const second = await extract(ctx, { chunkRows: 2 });
    expect(second.published).toBe(true);
    expect(second.batchId).toBe(first.batchId);
    const all = await extract(reference);
    expect(second.rows).toEqual(all.rows);
    const ids = (rows: Record<string, unknown>[]) => rows.map((r) => `${r.currency_id}@${r.last_updated}`).sort();
    expect(ids(await tableRows(ctx, 'currency'))).toEqual(ids(await tableRows(reference, 'currency')));
    for (const table of Object.values(second.manifest!.tables)) {
      for (const f of table.files) expect(await ctx.ingestion.exists(f.key)).toBe(true);
    }
  });

  it("reads a window by one COPY, stops it at a file's end by dropping its connection, and the resumed batch reads every row once", async () => {
    // 200,000 designs: a window far longer than a file of 20,000 rows, still streaming when the first file closes.
    await withClient((c) =>
      c.query(`INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated)
               SELECT g, 'Design ' || g, '/designs/' || g, 'design-' || g || '.json', '2023-01-01', '2023-01-01'::timestamp + g * interval '1 ms'
                 FROM generate_series(20000, 219999) g`),
    );
    try {
      const ctx = await makeContext();
      const reference = await makeContext();
      const messages: string[] = [];
      const log = { ...ctx.log, info: (m: string) => messages.push(m), warn: (m: string) => messages.push(`warn: ${m}`) };
      let late = false;
      const putStream = ctx.ingestion.putStream.bind(ctx.ingestion);
      ctx.ingestion.putStream = async (key, body, opts) => {
        const result = await putStream(key, body, opts);
        if (key.startsWith('raw/design/')) late = true; // the budget runs out once design's first file is written
        return result;
      };
      const deadline = new Date('2100-01-01T00:00:00Z');
      const clock = () => (late ? new Date('2100-01-02T00:00:00Z') : new Date());
      const first = await extract({ ...ctx, log, now: clock }, { chunkRows: 20_000, deadline });
      expect(first).toMatchObject({ published: false, reason: 'continued' });
      expect(messages).toContain("Extract of design stops at a file's end as its time ran out; the next run reads the rest of its window");
      expect(messages.filter((m) => m.startsWith('warn:'))).toEqual([]);
      // The progress lists design's first file only, its cursor that file's last row (the 20,000th design by last_updated).
      const saved: string[] = [];
      for await (const o of ctx.ingestion.list(extractProgressPrefix(first.seq))) saved.push(o.key);
      expect(saved).toHaveLength(1);
      const progress = JSON.parse(await getText(ctx.ingestion, saved[0])) as { tables: Record<string, { files: { key: string; rows: number }[]; cursor: unknown; complete: boolean }> };
      expect(progress.tables.design.files.map((f) => f.rows)).toEqual([20_000]);
      expect(progress.tables.design).toMatchObject({ complete: false, cursor: { id: 39999, lastUpdated: '2023-01-01 00:00:39.999' } });
      const onlyFile = await rawRows(ctx, progress.tables.design.files[0].key);
      expect(onlyFile.at(-1)).toMatchObject({ design_id: 39999 });

      const second = await extract(ctx, { chunkRows: 20_000 });
      expect(second.published).toBe(true);
      expect(second.batchId).toBe(first.batchId);
      const files = second.manifest!.tables.design.files;
      expect(files.map((f) => f.rows)).toEqual(Array(10).fill(20_000));
      expect(files[0].key).not.toMatch(/-p\d{4}-/); // written by the first run
      expect(files[1].key).toMatch(/-p0001-[0-9a-f]{4}\.ndjson\.gz$/); // by the second, from the first file's cursor
      const all = await extract(reference);
      expect(second.rows).toEqual(all.rows);
      const ids = (rows: Record<string, unknown>[]) => rows.map((r) => `${r.design_id}@${r.last_updated}`).sort();
      expect(ids(await tableRows(ctx, 'design'))).toEqual(ids(await tableRows(reference, 'design')));
    } finally {
      await withClient((c) => c.query('DELETE FROM design WHERE design_id >= 20000'));
    }
  });
});

describe('deletion checks without a full scan of every table every run', () => {
  // Its own table (address), written only in closed sessions, so no other test's statistics
  // arrive in the middle of it.
  let ctx: PipelineContext;
  const addressRow = (id: number) =>
    `(${id}, 'Line ${id}', NULL, NULL, 'City', 'P${id}', 'UK', '0100', '2023-01-01', now() AT TIME ZONE 'UTC' - interval '1 second')`;
  const insertAddresses = (ids: number[]) =>
    inClosedSession(`INSERT INTO address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated)
                     VALUES ${ids.map(addressRow).join(', ')}`);
  const addressKeys = async () => (await latestExtractManifest(ctx.ingestion))!.tables.address.keys!;

  beforeAll(async () => {
    ctx = await makeContext();
    await insertAddresses([1, 2, 3, 4, 5]);
    const first = await extract(ctx);
    expect(first.published).toBe(true);
    expect(await addressKeys()).toMatchObject({ count: 5, sum: 15, max: 5, tallyAt: first.manifest!.snapshotAt });
  });

  it('carries the tally forward, extended by the new keys, while the statistics show no deletion', async () => {
    const before = await addressKeys();
    await insertAddresses([6]);
    const result = await extract(ctx);
    expect(result.rows.address).toBe(1);
    // Not tallied again: the tally time is the first batch's; the new key is counted all the same.
    expect(await addressKeys()).toEqual({ ...before, count: 6, sum: 21, max: 6 });
  });

  it('finds a deletion by the first extract after its statistics arrive', async () => {
    const before = await addressKeys();
    await inClosedSession('DELETE FROM address WHERE address_id = 3');
    const result = await extract(ctx);
    expect(result.manifest?.tables.address.deletions?.ids).toEqual([3]);
    const after = await addressKeys();
    expect(after).toMatchObject({ count: 5, sum: 18, max: 6 });
    expect(after.tallyAt).not.toBe(before.tallyAt);
    expect(after.signature!.deletes).toBeGreaterThan(before.signature!.deletes);
  });

  it('finds a deleted key newer than the last full tally (a key only a carried tally counted)', async () => {
    await insertAddresses([7]);
    expect((await extract(ctx)).rows.address).toBe(1);
    const carried = await addressKeys();
    await inClosedSession('DELETE FROM address WHERE address_id = 7');
    const result = await extract(ctx);
    expect(result.manifest?.tables.address.deletions?.ids).toEqual([7]);
    expect((await addressKeys()).tallyAt).not.toBe(carried.tallyAt);
  });

  it('finds a deletion the statistics never showed once the last full tally is older than the maximum age', async () => {
    // A writer that does not count (track_counts off in its transaction): the signature stays the same.
    await inClosedSession('BEGIN; SET LOCAL track_counts = off; DELETE FROM address WHERE address_id = 4; COMMIT');
    const unseen = await extract(ctx);
    expect(unseen).toMatchObject({ published: false, reason: 'nothing-new' }); // carried forward: not found yet

    // The last full tally becomes two hours old (rewritten in the folder store, as the test's clock).
    const latest = (await latestExtractManifest(ctx.ingestion))!;
    const tallyAt = latest.tables.address.keys!.tallyAt!;
    const older = new Date(Date.parse(`${tallyAt.replace(' ', 'T')}Z`) - 2 * 3600_000).toISOString().replace('T', ' ').slice(0, 23);
    latest.tables.address.keys!.tallyAt = older;
    await ctx.ingestion.put(extractManifestKey(latest.seq), JSON.stringify(latest, null, 2));

    const found = await extract(ctx);
    expect(found.manifest?.tables.address.deletions?.ids).toEqual([4]);
    expect((await addressKeys()).tallyAt).toBe(found.manifest!.snapshotAt);
  });

  it('tallies every run with a maximum age of 0', async () => {
    await inClosedSession('BEGIN; SET LOCAL track_counts = off; DELETE FROM address WHERE address_id = 5; COMMIT');
    const found = await extract(ctx, { tallyMaxAgeSeconds: 0 });
    expect(found.manifest?.tables.address.deletions?.ids).toEqual([5]);
  });
});

describe('late-commit rescue arithmetic on the database', () => {
  let ctx: PipelineContext;
  beforeAll(async () => {
    ctx = await makeContext();
  });

  it('widens a 32-bit xid in SQL exactly as widenXid does, around epoch boundaries', async () => {
    const E = 1n << 32n;
    const cases: [bigint, bigint][] = [
      [100n, 3n * E + 500n],
      [500n, 3n * E + 500n],
      [501n, 3n * E + 500n],
      [E - 1n, 3n * E + 500n],
      [735n, 900n],
      [2n, 7n * E + 10n],
      [1n, 7n * E + 10n],
      [3n, 7n * E + 2n],
    ];
    const got = await withClient(async (c) => {
      const out: bigint[] = [];
      for (const [x, m] of cases) {
        const res = await c.query<{ w: string }>(`SELECT (${widenXidSql('$1::bigint', '$2::bigint')})::text AS w`, [x.toString(), m.toString()]);
        out.push(BigInt(res.rows[0].w));
      }
      return out;
    });
    expect(got).toEqual(cases.map(([x, m]) => widenXid(x, m)));
  });

  it('records the snapshot in the manifest, with a heartbeat that carries it when nothing is new', async () => {
    const first = await extract(ctx);
    const previous = first.published ? first.manifest! : await latestExtractManifest(ctx.ingestion);
    expect(previous?.source?.current).toMatch(/^\d+:\d+:/);
    const quiet = await extract(ctx);
    expect(quiet.reason).toBe('nothing-new');
    const heartbeat = await readExtractHeartbeat(ctx.processed, previous!.seq);
    expect(heartbeat?.source?.current).toMatch(/^\d+:\d+:/);
  });
});

describe('extract with its connections kept between runs (core/connection-pool.ts)', () => {
  it('takes them again on the next run, reads a new row once and finds a deletion; keeps none on PGlite', async () => {
    const lake = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-extract-pool-'));
    const pipeline = await openFolderPipeline({ lake, engine: unusedPort<QueryEngine>('engine'), catalog: unusedPort<Catalog>('catalog'), source: db.url, holdConnections: true });
    const ctx = pipeline.ctx;
    const design = (id: number) => inClosedSession(
      `INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES ($1::integer, 'D', '/d', 'd.json', '2023-01-01', now() AT TIME ZONE 'UTC' - interval '1 second')`,
      [id],
    );
    // This test's extract connections: those started since it began (an earlier run's may still be exiting).
    const since = await withClient(async (c) => (await c.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0].t);
    const backends = () =>
      withClient(async (c) =>
        (await c.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'totes-lake-extract' AND backend_start >= $1::timestamptz ORDER BY pid`, [since])).rows.map((r) => r.pid),
      );
    try {
      await design(1);
      expect((await extract(ctx)).published).toBe(true);
      if (db.kind === 'pglite') {
        expect(ctx.connections!.size).toBe(0);
        return;
      }
      // The extract's own connection and its snapshot reader (two by default), idle outside a transaction.
      expect(ctx.connections!.size).toBe(2);
      const kept = await backends();
      expect(kept).toHaveLength(2);
      await design(2);
      const second = await extract(ctx);
      expect(second.rows.design).toBe(1);
      expect(await backends()).toEqual(kept);
      const rows = await tableRows(ctx, 'design');
      expect(rows.map((r) => r.design_id).sort()).toEqual([1, 2]);
      await inClosedSession('DELETE FROM design WHERE design_id = 1');
      const third = await extract(ctx);
      expect(third.manifest?.tables.design.deletions?.ids).toEqual([1]);
      expect(await backends()).toEqual(kept);
    } finally {
      await pipeline.close();
    }
    // Closed with the pipeline (a backend leaves pg_stat_activity as it exits, a moment after).
    for (let i = 0; i < 50 && (await backends()).length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await backends()).toEqual([]);
  });
});
