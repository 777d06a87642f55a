/**
 * The facts' compaction into their month layout (issue 15, items 1 and 2;
 * functions/core/transform/fact-compaction.ts): analysts' answers — the four sql/analysis/ queries,
 * the *_current views and every fact's full history — are the same before, during and after a
 * compaction, whatever mix of compacted months and recent batch partitions the catalog holds; a
 * crash at each step leaves the lake as it was and a re-run completes it; a compaction racing a
 * batch (either holding the batch lease first) changes no answer; and the load, run after a
 * compaction of batches it had not loaded, still loads every version exactly once (the oracle).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withCurrentViews } from '../../functions/core/analysis/current-views';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import { extract } from '../../functions/core/extract/extract';
import { factTablePrefix } from '../../functions/core/lake/lake-layout';
import { listTransformSeqs } from '../../functions/core/lake/manifest-log';
import { acquireLease } from '../../functions/core/lake/stage-lease';
import { loadPending } from '../../functions/core/load/load';
import type { TableLocation } from '../../functions/core/ports/catalog';
import { backfill } from '../../functions/core/transform/backfill';
import { compactFacts, type FactCompactionStep } from '../../functions/core/transform/fact-compaction';
import { loadSqlFiles } from '../../functions/core/transform/sql-files';
import { lakeBindings } from '../../functions/core/transform/lake-bindings';
import { transformPending } from '../../functions/core/transform/transform';
import { FolderObjectStore } from '../../functions/local/folder-object-store';
import { warehouseFactVersions } from '../support/audit-oracle';
import { NOW, openScenario, REPO_ROOT, type Scenario } from './scenario-harness';

jest.setTimeout(300_000);
let s: Scenario;
const FACTS = STAR_TABLES.filter((t) => t.kind === 'fact');
const STEPS: FactCompactionStep[] = ['planned', 'written', 'checked', 'published'];

beforeAll(async () => {
  s = await openScenario('fact_compaction');
  await s.cycle(); // full load
  await amend([1, 2, 3]);
  await amend([2, 4]);
});
afterAll(async () => {
  await s?.close();
});

/** Amends sales orders (their created month is the seed's, long past), pays payments, touches purchase orders: one cycle. */
async function amend(ids: number[]): Promise<void> {
  for (const id of ids) {
    await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = $1`, [id]);
    await s.sql(`UPDATE payment SET paid = NOT paid, last_updated = ${NOW} WHERE payment_id = $1`, [id]);
    await s.sql(`UPDATE purchase_order SET item_quantity = item_quantity + 1, last_updated = ${NOW} WHERE purchase_order_id = $1`, [id]);
  }
  await s.cycle();
}

/** Every answer an analyst can get of the facts: the four analysis queries, the current views, each fact's whole history. */
async function answers(): Promise<Record<string, unknown>> {
  const bindings = await lakeBindings(s.ctx);
  const out: Record<string, unknown> = {};
  const dir = path.join(REPO_ROOT, 'sql', 'analysis');
  for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.sql')).sort()) {
    out[name] = plain(await s.ctx.engine.query(withCurrentViews(await fs.readFile(path.join(dir, name), 'utf8')), bindings));
  }
  for (const fact of FACTS) {
    const [id] = fact.key;
    out[`${fact.name}_current`] = plain(await s.ctx.engine.query(withCurrentViews(`SELECT ${id}, last_updated_date, last_updated_time, _batch_id FROM ${fact.name}_current ORDER BY ${id}`), bindings));
    out[fact.name] = plain(await s.ctx.engine.query(`SELECT ${id}, last_updated_date, last_updated_time, _batch_id, count(*) AS copies FROM ${fact.name} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, bindings));
    // The columns Athena's view adds (aws/fact-view.ts), the same whether a version is in a month or a batch partition.
    out[`${fact.name} by month`] = plain(await s.ctx.engine.query(`SELECT created_month, batch_id, count(*) AS versions FROM ${fact.name} GROUP BY 1, 2 ORDER BY 1, 2`, bindings));
  }
  return out;
}

/** The README's date-bounded query ("The facts' layout"), as written there. */
async function readmeMonthQuery(): Promise<string> {
  const readme = await fs.readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]).find((sql) => /WHERE created_month >=/.test(sql));
  if (!block) throw new Error('README.md has no sql block filtering on created_month');
  return block;
}

it("gives each fact Athena's view columns locally: created_month is the month of created_date, batch_id the version's batch, and the README's query filters on them", async () => {
  const bindings = await lakeBindings(s.ctx);
  for (const fact of FACTS) {
    const [wrong] = await s.ctx.engine.query(
      `SELECT count(*) AS n FROM ${fact.name} WHERE created_month IS DISTINCT FROM substr(CAST(created_date AS varchar), 1, 7) OR batch_id IS DISTINCT FROM _batch_id`,
      bindings,
    );
    expect(Number(wrong.n)).toBe(0);
  }
  const sql = await readmeMonthQuery();
  const [{ month }] = await s.ctx.engine.query(`SELECT max(created_month) AS month FROM fact_sales_order`, bindings);
  const bounded = sql.replace(/'\d{4}-\d{2}'/, `'${String(month)}'`).replace(/DATE '\d{4}-\d{2}-\d{2}'/, `DATE '${String(month)}-01'`).replace(/--[^\n]*/g, '');
  const byDate = bounded.replace(/created_month >= '[^']*' AND /, '');
  const got = plain(await s.ctx.engine.query(bounded, bindings)).sort();
  expect(got.length).toBeGreaterThan(0);
  expect(got).toEqual(plain(await s.ctx.engine.query(byDate, bindings)).sort());
});

function plain(rows: Record<string, unknown>[]): string[] {
  return rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)]))));
}

async function partitions(): Promise<Record<string, TableLocation[]>> {
  return Object.fromEntries(await Promise.all(FACTS.map(async (f) => [f.name, await s.ctx.catalog.partitions(f.name)] as const)));
}

/** The lake's facts hold every version the warehouse holds, each once (the warehouse is judged by the oracle in check()). */
async function expectLakeEqualsWarehouse(): Promise<void> {
  const bindings = await lakeBindings(s.ctx);
  const warehouse = await warehouseFactVersions(s.warehouse.url);
  for (const [, { fact, got }] of warehouse) {
    const table = FACTS.find((f) => f.name === fact)!;
    const [id] = table.key;
    const rows = await s.ctx.engine.query(`SELECT CAST(${id} AS varchar) || '@' || CAST(last_updated_date AS varchar) || ' ' || last_updated_time AS v FROM ${fact}`, bindings);
    const lake = rows.map((r) => String(r.v)).sort();
    const wh = got.map((v) => v.replace(/^[^:]*:/, '')).sort();
    expect(lake).toEqual(wh);
  }
}

it('leaves every answer unchanged through a crash at each step, and a re-run completes the compaction', async () => {
  const before = await answers();
  const published = await partitions();
  for (const fact of FACTS) expect(published[fact.name].every((p) => p.month === undefined)).toBe(true);
  expect(published.fact_sales_order.length).toBe(3);

  for (const crashAt of STEPS.slice(0, -1)) {
    const err = await compactFacts(s.ctx, {
      force: true,
      onStep: (step) => {
        if (step === crashAt) throw new Error(`crash at ${crashAt}`);
      },
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe(`crash at ${crashAt}`);
    // Nothing published: the catalog is as it was, every answer the same.
    expect(await partitions()).toEqual(published);
    expect(await answers()).toEqual(before);
  }

  // A crash right after the publish: the compaction is done, the answers are still the same.
  const seen: string[] = [];
  const crashed = await compactFacts(s.ctx, {
    force: true,
    onStep: (step, fields) => {
      seen.push(`${fields.table}:${step}`);
      if (step === 'published' && fields.table === 'fact_sales_order') throw new Error('crash at published');
    },
  }).catch((e: Error) => e);
  expect((crashed as Error).message).toBe('crash at published');
  const halfway = await partitions();
  expect(halfway.fact_sales_order.every((p) => p.month !== undefined)).toBe(true);
  expect(halfway.fact_payment).toEqual(published.fact_payment); // not reached
  expect(await answers()).toEqual(before);

  // The re-run completes it: every fact is months only, and still the same answers.
  const results = await compactFacts(s.ctx, { force: true });
  expect(results.find((r) => r.table === 'fact_sales_order')?.outcome).toBe('nothing');
  expect(results.filter((r) => r.outcome === 'compacted').map((r) => r.table).sort()).toEqual(['fact_payment', 'fact_purchase_order']);
  const after = await partitions();
  for (const fact of FACTS) {
    expect(after[fact.name].length).toBeGreaterThan(0);
    expect(after[fact.name].every((p) => p.month !== undefined && p.prefix.includes(`created_month=${p.month}/`))).toBe(true);
  }
  expect(await answers()).toEqual(before);
  // Nothing was deleted: every batch partition's files are still where the load reads them.
  for (const p of published.fact_sales_order) expect((await s.ctx.processed.exists(`${p.prefix}part-00000.parquet`))).toBe(true);
  expect(await s.check()).toEqual([]);
  await expectLakeEqualsWarehouse();
});

it('reads compacted months and newer batch partitions together, each version once, and compacts again into the same months', async () => {
  await amend([1, 5]); // versions of orders whose created month is already compacted
  const mixed = await partitions();
  expect(mixed.fact_sales_order.some((p) => p.month !== undefined) && mixed.fact_sales_order.some((p) => p.month === undefined)).toBe(true);
  const before = await answers();
  await expectLakeEqualsWarehouse();
  const monthsBefore = mixed.fact_sales_order.filter((p) => p.month !== undefined).length;

  const results = await compactFacts(s.ctx, { force: true });
  expect(results.every((r) => r.outcome === 'compacted')).toBe(true);
  const after = await partitions();
  // The months touched were rewritten in place of their old locations: no month twice, no batch left.
  expect(after.fact_sales_order.every((p) => p.month !== undefined)).toBe(true);
  expect(after.fact_sales_order.length).toBe(monthsBefore);
  expect(await answers()).toEqual(before);
  expect(await s.check()).toEqual([]);
});

it('a compaction racing a batch: whichever holds the batch lease first, the other waits and no answer changes', async () => {
  // The compaction holds the lease (paused after writing): a batch's transform waits for it.
  await amend([6]);
  const before = await answers();
  const other = await s.context();
  let batchWhileCompacting: Promise<unknown> | undefined;
  const compaction = compactFacts(s.ctx, {
    force: true,
    onStep: async (step, fields) => {
      if (step !== 'written' || fields.table !== 'fact_sales_order') return;
      await s.sql(`UPDATE sales_order SET units_sold = units_sold + 3, last_updated = ${NOW} WHERE sales_order_id = 7`);
      await s.beforeExtract();
      await extract(other);
      await s.extracted();
      batchWhileCompacting = transformPending(other);
      expect(await batchWhileCompacting).toEqual([]); // busy: the compaction holds the lease of the next batch
      expect(await answers()).toEqual(before);
    },
  });
  await compaction;
  expect(batchWhileCompacting).toBeDefined();
  expect(await answers()).toEqual(before);
  // The batch goes on afterwards; the compaction did not take it (it had no transform manifest).
  const seqs = await listTransformSeqs(s.ctx.processed);
  const transformed = await transformPending(other);
  expect(transformed.map((t) => t.seq)).toEqual([seqs.at(-1)! + 1]);

  // A batch's transform holds the lease: the compaction leaves everything as it is.
  const held = await acquireLease(s.ctx.processed, 'transform', transformed[0].seq + 1, { ttlMs: 60_000, now: () => new Date() });
  if (!('lease' in held)) throw new Error('expected to take the lease');
  const partitionsHeld = await partitions();
  const answersHeld = await answers();
  const busy = await compactFacts(s.ctx, { force: true });
  expect(busy.every((r) => r.outcome === 'busy')).toBe(true);
  expect(await partitions()).toEqual(partitionsHeld);
  await held.lease.release();

  // The load had not loaded that batch when its partition was compacted: it still loads it, once.
  const compacted = await compactFacts(s.ctx, { force: true });
  expect(compacted.find((r) => r.table === 'fact_sales_order')?.outcome).toBe('compacted');
  expect(await answers()).toEqual(answersHeld);
  await loadPending(s.ctx);
  expect(await s.check()).toEqual([]);
  await expectLakeEqualsWarehouse();
});

it('compacts on its own schedule inside the transform: once the oldest batch partition is older than the policy', async () => {
  const eager = await s.context({ factCompaction: { compactAfterMs: 0 } });
  await amend([8]);
  expect((await partitions()).fact_sales_order.some((p) => p.month === undefined)).toBe(true);
  const before = await answers();
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 9`);
  await s.cycle(eager);
  const after = await partitions();
  for (const fact of FACTS) expect(after[fact.name].every((p) => p.month !== undefined)).toBe(true);
  expect((await answers()).fact_sales_order).not.toEqual(before.fact_sales_order); // the new version is there
  expect(await s.check()).toEqual([]);
  await expectLakeEqualsWarehouse();
});

it('marks the months a compaction replaced superseded, also after a crash between its publish and the marking; once the grace period passes they go, never a published month or a batch partition', async () => {
  const store = s.ctx.processed as FolderObjectStore;
  const files = async (kind: 'compacted=' | 'batch_id=') => {
    const keys: string[] = [];
    for (const fact of FACTS) for await (const o of store.list(factTablePrefix(fact.name))) if (o.key.includes(`/${kind}`)) keys.push(o.key);
    return keys;
  };
  await compactFacts(s.ctx, { force: true });
  await amend([1, 6]); // new versions of months already compacted: the next compaction replaces them
  const crashed = await compactFacts(s.ctx, {
    force: true,
    onStep: (step, fields) => {
      if (step === 'published' && fields.table === 'fact_sales_order') throw new Error('crash after the publish');
    },
  }).catch((e: Error) => e);
  expect((crashed as Error).message).toBe('crash after the publish');
  await amend([2, 7]);
  const results = await compactFacts(s.ctx, { force: true });
  // The sales orders' compaction marks what it replaced and what the crashed one had replaced.
  expect(results.find((r) => r.table === 'fact_sales_order')?.expired).toBeGreaterThan(0);
  const before = await answers();
  const published = new Set(Object.values(await partitions()).flat().map((p) => p.prefix));
  const compacted = await files('compacted=');
  const superseded = compacted.filter((k) => ![...published].some((p) => k.startsWith(p)));
  expect(superseded.length).toBeGreaterThan(0);
  const batchFiles = await files('batch_id=');

  // Within the grace period nothing is gone; a call after it deletes exactly what was marked.
  await store.expire([]);
  expect(await files('compacted=')).toEqual(compacted);
  await new FolderObjectStore(store.root, { now: () => Date.now() + 25 * 60 * 60_000 }).expire([]);
  expect(await files('compacted=')).toEqual(compacted.filter((k) => !superseded.includes(k)));
  expect(await files('batch_id=')).toEqual(batchFiles);
  expect(await answers()).toEqual(before);
  expect(await s.check()).toEqual([]);
  await expectLakeEqualsWarehouse();
});

it('a backfill of a compacted fact replaces its months with the rebuilt batches, which the next compaction lays out by month again', async () => {
  await compactFacts(s.ctx, { force: true });
  expect((await partitions()).fact_sales_order.every((p) => p.month !== undefined)).toBe(true);
  const before = await answers();
  const sqlRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-compaction-sql-'));
  try {
    await fs.cp(path.join(REPO_ROOT, 'sql'), path.join(sqlRoot, 'sql'), { recursive: true });
    // A change that keeps every value: unit_price rounded to its two decimals explicitly.
    const file = path.join(sqlRoot, 'sql/transform/fact_sales_order.sql');
    const text = await fs.readFile(file, 'utf8');
    expect(text).toContain('  unit_price,\n');
    await fs.writeFile(file, text.replace('  unit_price,\n', '  CAST(unit_price AS decimal(10, 2)) AS unit_price,\n'));
    const newHash = (await loadSqlFiles(sqlRoot)).find((f) => f.table.name === 'fact_sales_order')!.sqlHash;
    const changed = await s.context({ sqlRoot });

    await backfill(changed, ['fact_sales_order']);
    const rebuilt = (await partitions()).fact_sales_order;
    expect(rebuilt.every((p) => p.month === undefined && p.sqlHash === newHash)).toBe(true);
    expect(await answers()).toEqual(before);

    const results = await compactFacts(changed, { force: true });
    expect(results.find((r) => r.table === 'fact_sales_order')?.outcome).toBe('compacted');
    const months = (await partitions()).fact_sales_order;
    expect(months.every((p) => p.month !== undefined && p.sqlHash === newHash)).toBe(true);
    expect(await answers()).toEqual(before);

    await s.sql(`UPDATE sales_order SET units_sold = units_sold + 2, last_updated = ${NOW} WHERE sales_order_id = 10`);
    await s.cycle(changed);
    expect(await s.check()).toEqual([]);
    await expectLakeEqualsWarehouse();
  } finally {
    await fs.rm(sqlRoot, { recursive: true, force: true });
  }
});
