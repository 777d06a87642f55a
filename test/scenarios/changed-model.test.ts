/**
 * Versioned SQL that can change (issue 16, items 1 and 2): a changed fact SQL file makes the batches
 * with versions of that fact wait, naming `totes backfill`; the backfill rebuilds the fact's whole
 * history with the new version in the lake and the warehouse, survives a crash at each of its steps
 * (the lake and the warehouse stay readable, as before or as after), refuses while another run holds
 * the batch lease, and the batches that arrived meanwhile are applied after it, exactly once.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backfillKey, modelVersionKey } from '../../functions/core/lake/lake-layout';
import { listExtractSeqs, listTransformSeqs, readTransformManifest } from '../../functions/core/lake/manifest-log';
import { acquireLease } from '../../functions/core/lake/stage-lease';
import { readPipelineStatus } from '../../functions/core/operate/pipeline-status';
import { readRunHistory } from '../../functions/core/operate/run-history';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { backfill, BackfillRefusedError, readProgress } from '../../functions/core/transform/backfill';
import { lakeBindings } from '../../functions/core/transform/lake-bindings';
import { loadSqlFiles } from '../../functions/core/transform/sql-files';
import { NOW, openScenario, REPO_ROOT, type Scenario } from './scenario-harness';

jest.setTimeout(240_000);
let s: Scenario;
let sqlRoot: string;
let changed: PipelineContext;
let newHash: string;
let oldHash: string;
const FACT = 'fact_sales_order';

beforeAll(async () => {
  s = await openScenario('model');
  await s.cycle(); // full load
  for (const id of [1, 2]) {
    await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = $1`, [id]);
    await s.cycle();
  }
  sqlRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-changed-sql-'));
  await fs.cp(path.join(REPO_ROOT, 'sql'), path.join(sqlRoot, 'sql'), { recursive: true });
  // The change keeps the columns and their values: unit_price is now rounded to its two decimals explicitly.
  const fact = path.join(sqlRoot, 'sql/transform/fact_sales_order.sql');
  const text = await fs.readFile(fact, 'utf8');
  expect(text).toContain('  unit_price,\n');
  await fs.writeFile(fact, text.replace('  unit_price,\n', '  CAST(unit_price AS decimal(10, 2)) AS unit_price,\n'));
  // A dimension's file changes too (a comment): it is rebuilt whole, as before.
  await fs.appendFile(path.join(sqlRoot, 'sql/transform/dim_staff.sql'), '-- reviewed\n');
  changed = await s.context({ sqlRoot });
  newHash = (await loadSqlFiles(sqlRoot)).find((f) => f.table.name === FACT)!.sqlHash;
  oldHash = (await loadSqlFiles(REPO_ROOT)).find((f) => f.table.name === FACT)!.sqlHash;
});
afterAll(async () => {
  await s?.close();
  if (sqlRoot) await fs.rm(sqlRoot, { recursive: true, force: true });
});

const warehouse = <T extends Record<string, unknown>>(sql: string): Promise<T[]> => s.warehouseSql<T>(sql);

async function failing(work: () => Promise<unknown>): Promise<Error> {
  try {
    await work();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

/** What readers see of the fact: lake rows and key sums through the catalog, the warehouse's rows with their surrogate keys. */
async function readers(): Promise<{ lake: unknown; hashes: string[]; warehouse: unknown; records: string; leftovers: unknown[] }> {
  const lake = await s.ctx.engine.query(
    `SELECT count(*) AS n, sum(sales_order_id) AS ids, sum(units_sold) AS units, sum(unit_price) AS price FROM ${FACT}`,
    await lakeBindings(s.ctx),
  );
  const partitions = await s.ctx.catalog.partitions(FACT);
  const wh = await warehouse(`SELECT count(*)::int AS n, sum(sales_order_id)::bigint AS ids, sum(units_sold)::bigint AS units, sum(unit_price)::text AS price FROM ${FACT}`);
  const records = await warehouse<{ r: string }>(
    `SELECT string_agg(sales_record_id || ':' || sales_order_id || '@' || last_updated_date || ' ' || last_updated_time, ',' ORDER BY sales_record_id) AS r FROM ${FACT}`,
  );
  const leftovers = await warehouse(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%backfill%'`);
  const current = await warehouse<{ n: number }>(`SELECT count(*)::int AS n FROM ${FACT}_current`);
  return {
    lake: lake.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]))),
    hashes: [...new Set(partitions.map((p) => p.sqlHash))],
    warehouse: { ...wh[0], current: current[0].n },
    records: records[0].r,
    leftovers,
  };
}

it('rebuilds a changed dimension and makes a batch with versions of a changed fact wait, naming the file and `totes backfill`', async () => {
  // A batch without sales orders goes on: the fact gains no row; dim_staff is rebuilt with its new file.
  await s.sql(`UPDATE staff SET email_address = 'moved@terrifictotes.com', last_updated = ${NOW} WHERE staff_id = 1`);
  const quiet = await s.cycle(changed);
  const manifest = quiet.transformed.at(-1)!.manifest;
  expect(manifest.modelChanges).toEqual([expect.objectContaining({ table: 'dim_staff', action: 'rebuilt' })]);
  expect(manifest.star[FACT].sqlHash).toBe(oldHash); // an unwritten fact carries the published version forward
  expect(s.log.text('warn')).toMatch(/sql\/transform\/fact_sales_order\.sql changed.*has no versions of it and goes on/);
  const history = await readRunHistory(s.ctx.processed, { last: 1 });
  expect(history.records[0].stages.transform?.batches[0].modelChanges?.[0].table).toBe('dim_staff');

  // A batch with sales orders waits, like a quarantined one, and says why and what to run.
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 5, last_updated = ${NOW} WHERE sales_order_id = 3`);
  const before = await listTransformSeqs(s.ctx.processed);
  const err = await failing(() => s.cycle(changed));
  expect(err.message).toMatch(/sql\/transform\/fact_sales_order\.sql changed since it built the published fact_sales_order .*run `totes backfill fact_sales_order`/);
  expect(err.message).not.toMatch(/\.\./); // each sentence ends once, however the reasons are nested
  expect(await listTransformSeqs(s.ctx.processed)).toEqual(before);
  const runs = await readRunHistory(s.ctx.processed, { last: 1 });
  expect(runs.records[0].failure?.error).toMatch(/totes backfill fact_sales_order/);
  const status = await readPipelineStatus({ ingestion: s.ctx.ingestion, processed: s.ctx.processed, warehouseUrl: async () => s.warehouse.url, warehouseSchema: 'public', now: new Date(), slaSeconds: 3600, runs: 3, sqlRoot });
  expect(status.backlog?.state).toBe('quarantined');
  expect(status.starTables.find((t) => t.table === FACT)?.sql).toEqual({ published: oldHash, file: newHash, changed: true, backfill: null });
  expect(status.problems.join('\n')).toMatch(/fact_sales_order\.sql changed .*`totes backfill fact_sales_order`/);
  // With the file as it was, the same batch goes through.
  expect((await readPipelineStatus({ ingestion: s.ctx.ingestion, processed: s.ctx.processed, warehouseSchema: 'public', now: new Date(), slaSeconds: 3600, runs: 0, sqlRoot: REPO_ROOT })).starTables.find((t) => t.table === FACT)?.sql?.changed).toBe(false);
});

it('refuses to backfill while another run holds the batch lease', async () => {
  const next = (await listTransformSeqs(s.ctx.processed)).at(-1)! + 1;
  const held = await acquireLease(s.ctx.processed, 'transform', next, { ttlMs: 60_000, now: () => new Date() });
  if (!('lease' in held)) throw new Error('lease not taken');
  try {
    const err = await failing(() => backfill(changed, [FACT]));
    expect(err).toBeInstanceOf(BackfillRefusedError);
    expect(err.message).toMatch(/another run holds the transform lease of batch seq/);
    expect(await readProgress(s.ctx, FACT, newHash)).toBeUndefined();
  } finally {
    await held.lease.release();
  }
});

/** Batches extracted but not transformed when the lake's publish let them through (they waited for the backfill). */
let waited: number[] = [];

it('survives a crash at each step of the backfill: readers see the table as before or as after, and a re-run resumes', async () => {
  let before = await readers();
  expect(before.hashes).toEqual([oldHash]);
  const oid = async () => (await warehouse<{ oid: string }>(`SELECT '${FACT}'::regclass::oid::text AS oid`))[0].oid;
  const tableBefore = await oid();
  const steps = ['rebuilt', 'tested-batch', 'tested', 'catalog-replaced', 'model-recorded', 'published', 'warehouse-loaded-pending', 'warehouse-copied', 'warehouse-swapped', 'loaded'];
  let arrived = 0;
  for (const crashAt of steps) {
    const err = await failing(() =>
      backfill(changed, [FACT], {
        batchesPerStatement: 2, // several groups, so a crash can fall between two of them
        onStep: async (step) => {
          if (step !== crashAt) return;
          if (crashAt === 'tested') {
            // A run during the backfill: its batch (with sales orders) is extracted and waits.
            await s.sql(`UPDATE sales_order SET units_sold = units_sold + 7, last_updated = ${NOW} WHERE sales_order_id = 4`);
            expect((await failing(() => s.cycle(changed))).message).toMatch(/totes backfill fact_sales_order/);
            arrived += 1;
          }
          throw new Error(`crash at ${crashAt}`);
        },
      }),
    );
    expect(err.message).toBe(`crash at ${crashAt}`);
    if (crashAt !== 'loaded') {
      const status = await readPipelineStatus({ ingestion: s.ctx.ingestion, processed: s.ctx.processed, warehouseSchema: 'public', now: new Date(), slaSeconds: 3600, runs: 0, sqlRoot });
      expect(status.problems.join('\n')).toMatch(/The backfill of fact_sales_order with version .* stopped at step .*run `totes backfill fact_sales_order` again/);
    }
    const now = await readers();
    // Exactly as before or exactly as after: one SQL version in the catalog, the same rows and keys everywhere.
    expect(now.hashes.length).toBe(1);
    expect([oldHash, newHash]).toContain(now.hashes[0]);
    expect(now.lake).toEqual(before.lake);
    expect(now.warehouse).toEqual(before.warehouse);
    expect(now.records).toEqual(before.records);
    expect(now.leftovers).toEqual([]);
    const published = steps.indexOf(crashAt) >= steps.indexOf('catalog-replaced');
    expect(now.hashes[0]).toBe(published ? newHash : oldHash);
    // The warehouse table is the old one until the replacement commits (a crash inside it rolls back).
    expect((await oid()) === tableBefore).toBe(steps.indexOf(crashAt) < steps.indexOf('loaded'));
    if (crashAt === 'published') {
      // Published in the lake, not yet in the warehouse: a run now builds the batches that waited,
      // and one more, with the new version, and loads them into the old warehouse table.
      const transformed = new Set(await listTransformSeqs(s.ctx.processed));
      waited = (await listExtractSeqs(s.ctx.ingestion)).filter((seq) => !transformed.has(seq));
      expect(waited.length).toBe(2); // the one refused before the backfill, the one that arrived during it
      await s.sql(`UPDATE sales_order SET units_sold = units_sold + 9, last_updated = ${NOW} WHERE sales_order_id = 5`);
      const run = await s.cycle(changed);
      expect(run.transformed.map((r) => r.seq)).toEqual([...waited, waited.at(-1)! + 1]);
      for (const r of run.transformed) expect(r.manifest.star[FACT]).toMatchObject({ sqlHash: newHash });
      expect(run.transformed.every((r) => r.manifest.star[FACT].rows > 0)).toBe(true);
      before = await readers();
      expect(before.hashes).toEqual([newHash]);
    }
  }
  expect(arrived).toBe(1);
  const done = await backfill(changed, [FACT]);
  expect(done[0].outcome).toBe('up-to-date');
  const progress = await readProgress(s.ctx, FACT, newHash);
  expect(progress?.step).toBe('loaded');
  const withRows = [];
  for (const seq of await listTransformSeqs(s.ctx.processed)) if ((await readTransformManifest(s.ctx.processed, seq)).star[FACT].rows > 0) withRows.push(seq);
  expect(progress?.batches.map((b) => b.seq)).toEqual(withRows.filter((seq) => seq <= progress!.throughSeq!));
  expect(new Set(progress?.batches.map((b) => b.prefix.replace(/batch_id=.*$/, ''))).size).toBe(Math.ceil(progress!.batches.length / 2)); // rebuilt two batches a statement
  expect(withRows.filter((seq) => seq > progress!.throughSeq!)).toEqual([...waited, waited.at(-1)! + 1]);
  const after = await readers();
  expect(after.hashes).toEqual([newHash]);
  expect(after.lake).toEqual(before.lake);
  expect(after.records).toEqual(before.records);
  // Every rebuilt row carries its batch's lineage and the new version.
  const lineage = await s.ctx.engine.query(`SELECT count(DISTINCT _batch_id) AS batches, count(DISTINCT _sql_hash) AS versions, min(_sql_hash) AS hash FROM ${FACT}`, await lakeBindings(s.ctx));
  expect(lineage.map((r) => ({ batches: Number(r.batches), versions: Number(r.versions), hash: r.hash }))).toEqual([{ batches: withRows.length, versions: 1, hash: newHash }]);
  expect(await s.ctx.processed.exists(modelVersionKey(FACT))).toBe(true);
  expect(await s.ctx.processed.exists(backfillKey(FACT, newHash))).toBe(true);
});

it('applied the batches that waited once the backfill published, exactly once, with the new version', async () => {
  expect(waited.length).toBe(2);
  for (const seq of waited) expect((await readTransformManifest(s.ctx.processed, seq)).star[FACT].sqlHash).toBe(newHash);
  expect(new Set((await s.ctx.catalog.partitions(FACT)).map((p) => p.sqlHash))).toEqual(new Set([newHash]));
  // The next run goes on with the new version.
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 11, last_updated = ${NOW} WHERE sales_order_id = 6`);
  const run = await s.cycle(changed);
  expect(run.transformed.map((r) => r.manifest.star[FACT].sqlHash)).toEqual([newHash]);
  const ledger = await warehouse<{ seq: number }>(`SELECT seq FROM load_ledger ORDER BY seq`);
  expect(ledger.map((r) => Number(r.seq))).toEqual(await listTransformSeqs(s.ctx.processed));
  // The oracle: every version in the lake and the warehouse exactly once, and a clean verify.
  expect(await s.check()).toEqual([]);
  // A second backfill of the same version has nothing to do.
  expect((await backfill(changed, [FACT]))[0].outcome).toBe('up-to-date');
  // And a dimension's backfill says where it stands.
  expect((await backfill(changed, ['dim_staff']))[0].kind).toBe('dimension');
});
