/**
 * Bad input: values that break the contract and source columns that change under us. Each ends
 * in a clear error or a declared, logged evolution; a batch that cannot be published is
 * quarantined with its reason, nothing of it is published, later batches wait, and the way out
 * (README, "The guarantee") loses nothing else.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import { getText } from '../../functions/core/ports/object-store';
import { listExtractSeqs, listTransformSeqs, readExtractManifest, readTransformManifest } from '../../functions/core/lake/manifest-log';
import { quarantineKey } from '../../functions/core/transform/data-tests';
import type { CycleResult } from '../../functions/core/run-cycle';
import { warehouseFingerprint } from '../support/warehouse-snapshot';
import { NOW, openScenario, REPO_ROOT, type Scenario } from './scenario-harness';

jest.setTimeout(90_000);
let s: Scenario;

beforeAll(async () => {
  s = await openScenario('badinput');
  await s.cycle();
});
afterAll(async () => s?.close());

/** A cycle that is expected to fail: its error (or the result, when it did not fail). */
async function failingCycle(ctx = s.ctx): Promise<Error | CycleResult> {
  try {
    return await s.cycle(ctx);
  } catch (err) {
    return err as Error;
  }
}

/** Everything a batch publishes: transform manifests, catalog pointers and partitions, the warehouse. */
async function published(): Promise<string> {
  const catalog: Record<string, unknown> = {};
  for (const t of STAR_TABLES) catalog[t.name] = t.kind === 'fact' ? await s.ctx.catalog.partitions(t.name) : await s.ctx.catalog.location(t.name);
  return JSON.stringify({
    transformed: await listTransformSeqs(s.ctx.processed),
    catalog,
    warehouse: await warehouseFingerprint(s.warehouse.url),
  });
}

async function warehouse<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: s.warehouse.url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

it('refuses a NOT NULL column that became nullable (declared: a drift error, nothing extracted) and resumes once it is restored', async () => {
  const [design] = await s.sql<{ design_id: number }>(`SELECT min(design_id) AS design_id FROM design`);
  await s.sql(`ALTER TABLE design ALTER COLUMN design_name DROP NOT NULL`);
  await s.sql(`UPDATE design SET design_name = NULL, last_updated = ${NOW} WHERE design_id = $1`, [design.design_id]);
  const before = { extracted: await listExtractSeqs(s.ctx.ingestion), published: await published() };
  const err = await failingCycle();
  expect(String(err)).toMatch(/column design\.design_name became nullable; the contract says NOT NULL.*Nothing was extracted/);
  expect(await listExtractSeqs(s.ctx.ingestion)).toEqual(before.extracted);
  expect(await published()).toEqual(before.published);
  // The way out: the source is put back within its contract; the row's next version flows normally.
  await s.sql(`UPDATE design SET design_name = 'named again', last_updated = ${NOW} WHERE design_id = $1`, [design.design_id]);
  await s.sql(`ALTER TABLE design ALTER COLUMN design_name SET NOT NULL`);
  await s.cycle();
  expect(await warehouse(`SELECT design_name FROM dim_design WHERE design_id = $1`, [design.design_id])).toEqual([{ design_name: 'named again' }]);
  expect(await s.check()).toEqual([]);
});

it('keeps an unknown currency code with currency_name NULL and reports it', async () => {
  await s.sql(`INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (900, 'CHF', ${NOW}, ${NOW})`);
  await s.cycle();
  const warning = s.log.lines.find((l) => l.level === 'warn' && /currencies without an ISO 4217 name/.test(l.message));
  expect(warning?.fields?.currencies).toEqual([{ currency_id: 900, currency_code: 'CHF' }]);
  expect(await warehouse(`SELECT currency_id, currency_code, currency_name FROM dim_currency WHERE currency_id = 900`)).toEqual([
    { currency_id: 900, currency_code: 'CHF', currency_name: null },
  ]);
  expect(await warehouse(`SELECT count(*)::int AS n FROM dim_currency WHERE currency_name IS NOT NULL`)).toEqual([{ n: 3 }]);
  expect(await s.check()).toEqual([]);
});

it('quarantines a batch with an unparseable agreed date, holds later batches, and builds it without the bad version once the row is fixed', async () => {
  const [order] = await s.sql<{ sales_order_id: number }>(`SELECT max(sales_order_id) AS sales_order_id FROM sales_order`);
  const id = order.sales_order_id;
  await s.sql(`UPDATE sales_order SET agreed_payment_date = 'soon', agreed_delivery_date = '2026-13-45', last_updated = ${NOW} WHERE sales_order_id = $1`, [id]);
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 1`); // a good row in the same batch
  const before = await published();
  const err = await failingCycle();
  expect(String(err)).toMatch(/quarantined/);
  const [badSeq] = (await listExtractSeqs(s.ctx.ingestion)).slice(-1);
  const transformedBefore = await listTransformSeqs(s.ctx.processed);
  expect(transformedBefore).not.toContain(badSeq);
  const badBatch = (await readExtractManifestOf(badSeq)).batchId;
  const report = JSON.parse(await getText(s.ctx.processed, quarantineKey(badBatch))) as {
    reason: string;
    rejectedVersions: { table: string; id: number; column: string; value: string; supersededBy?: string }[];
  };
  expect(report.reason).toMatch(new RegExp(`sales_order\\.agreed_payment_date = 'soon' \\(sales_order_id ${id},`));
  expect(report.reason).toMatch(new RegExp(`sales_order\\.agreed_delivery_date = '2026-13-45' \\(sales_order_id ${id},`));
  expect(report.rejectedVersions).toEqual([
    expect.objectContaining({ table: 'sales_order', id, column: 'agreed_delivery_date', value: '2026-13-45' }),
    expect.objectContaining({ table: 'sales_order', id, column: 'agreed_payment_date', value: 'soon' }),
  ]);
  expect(report.rejectedVersions[0].supersededBy).toBeUndefined();
  expect(await published()).toEqual(before); // nothing of it: no manifest, no catalog change, warehouse as it was

  // Later batches wait: a new change is extracted, but neither batch is transformed.
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 2`);
  expect(String(await failingCycle())).toMatch(/quarantined/);
  const [laterSeq] = (await listExtractSeqs(s.ctx.ingestion)).slice(-1);
  expect(laterSeq).toBe(badSeq + 1);
  expect(await listTransformSeqs(s.ctx.processed)).toEqual(transformedBefore);
  expect(await published()).toEqual(before);

  // The way out: the row is fixed in totesys; its next version supersedes the rejected one.
  await s.sql(`UPDATE sales_order SET agreed_payment_date = '2026-01-31', agreed_delivery_date = '2026-01-15', last_updated = ${NOW} WHERE sales_order_id = $1`, [id]);
  const fixed = await s.cycle();
  expect(fixed.transformed.map((t) => t.seq)).toEqual([badSeq, badSeq + 1, badSeq + 2]);
  const manifest = await readTransformManifest(s.ctx.processed, badSeq);
  expect(manifest.rejected).toEqual([
    expect.objectContaining({ table: 'sales_order', id, value: '2026-13-45', supersededBy: fixed.transformed[2].batchId }),
    expect.objectContaining({ table: 'sales_order', id, value: 'soon', supersededBy: fixed.transformed[2].batchId }),
  ]);
  expect(s.log.text('warn')).toMatch(new RegExp(`batch ${badBatch} is built without 2 rejected value`));
  const versions = await warehouse<{ agreed_payment_date: string }>(
    `SELECT to_char(agreed_payment_date, 'YYYY-MM-DD') AS agreed_payment_date FROM fact_sales_order WHERE sales_order_id = $1 ORDER BY last_updated_date, last_updated_time`,
    [id],
  );
  expect(versions.at(-1)).toEqual({ agreed_payment_date: '2026-01-31' });
  // The oracle still expects the rejected version in the warehouse: exactly that one is missing, nothing else differs;
  // `totes verify` knows it was left out on purpose (the transform manifest lists it) and is clean.
  const problems = await s.check();
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(new RegExp(`^fact_sales_order misses 1 version\\(s\\): sales_order:${id}@`));
});

it('reports a new source column as a warning and goes on without it', async () => {
  await s.sql(`ALTER TABLE design ADD COLUMN colour text DEFAULT 'red'`);
  await s.sql(`UPDATE design SET design_name = design_name || ' v2', last_updated = ${NOW} WHERE design_id = (SELECT min(design_id) FROM design)`);
  const cycle = await s.cycle();
  expect(cycle.extract.published).toBe(true);
  expect(cycle.extract.warnings).toContain('column design.colour is new in the source and is not extracted (add it to the table contract to carry it)');
  const raw = await s.ctx.engine.query(`SELECT * FROM batch_design`, { batch: { design: cycle.extract.manifest!.tables.design!.files.map((f) => f.key) }, current: {}, star: {} });
  expect(raw).toHaveLength(1);
  expect(Object.keys(raw[0])).not.toContain('colour');
  expect(await s.check()).toHaveLength(1); // only the rejected version of the previous scenario
  await s.sql(`ALTER TABLE design DROP COLUMN colour`);
});

it.each([
  ['dropped', `ALTER TABLE department DROP COLUMN manager`, /column department\.manager is missing/, `ALTER TABLE department ADD COLUMN manager text`],
  ['retyped', `ALTER TABLE sales_order ALTER COLUMN units_sold TYPE bigint`, /column sales_order\.units_sold is bigint, the contract says integer/, `ALTER TABLE sales_order ALTER COLUMN units_sold TYPE integer`],
])('stops with a clear error on a %s column: nothing extracted, nothing published', async (_kind, alter, message, restore) => {
  await s.sql(`UPDATE payment SET paid = NOT paid, last_updated = ${NOW} WHERE payment_id = 1`);
  await s.sql(alter);
  const before = { extracted: await listExtractSeqs(s.ctx.ingestion), published: await published() };
  const err = await failingCycle();
  expect(String(err)).toMatch(message);
  expect(String(err)).toMatch(/Nothing was extracted; fix the source or change functions\/core\/contract\/source-tables\.ts on purpose/);
  expect(await listExtractSeqs(s.ctx.ingestion)).toEqual(before.extracted);
  expect(await published()).toEqual(before.published);
  await s.sql(restore);
  await s.cycle();
  expect(await s.check()).toHaveLength(1); // only the rejected version of the date scenario
});

it('quarantines a batch whose data tests fail (a fact key missing from its dimension) and keeps the warehouse at its last good state', async () => {
  // A transform bug: dim_design drops one design that a new sales order version uses.
  const sqlRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-broken-sql-'));
  await fs.cp(path.join(REPO_ROOT, 'sql'), path.join(sqlRoot, 'sql'), { recursive: true });
  const [order] = await s.sql<{ sales_order_id: number; design_id: number }>(`SELECT sales_order_id, design_id FROM sales_order ORDER BY sales_order_id LIMIT 1`);
  const dimDesign = path.join(sqlRoot, 'sql/transform/dim_design.sql');
  await fs.writeFile(dimDesign, `${(await fs.readFile(dimDesign, 'utf8')).trimEnd()}\nWHERE design_id <> ${order.design_id}\n`);
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 5, last_updated = ${NOW} WHERE sales_order_id = $1`, [order.sales_order_id]);
  const before = await published();
  const broken = await s.context({ sqlRoot });
  expect(String(await failingCycle(broken))).toMatch(/quarantined.*data tests failed/);
  const [seq] = (await listExtractSeqs(s.ctx.ingestion)).slice(-1);
  const report = JSON.parse(await getText(s.ctx.processed, quarantineKey((await readExtractManifestOf(seq)).batchId))) as {
    failingTests: { name: string; table: string; failures: number; sample: Record<string, unknown>[] }[];
  };
  expect(report.failingTests).toEqual([
    { name: 'relationship(design_id → dim_design.design_id)', table: 'fact_sales_order', passed: false, failures: 1, sample: [{ design_id: order.design_id }] },
  ]);
  expect(await published()).toEqual(before);
  // The fix (sql/transform corrected): the same batch goes through.
  await s.cycle();
  expect(await listTransformSeqs(s.ctx.processed)).toContain(seq);
  expect(await s.check()).toHaveLength(1); // only the rejected version of the date scenario
  await fs.rm(sqlRoot, { recursive: true, force: true });
});

const readExtractManifestOf = (seq: number) => readExtractManifest(s.ctx.ingestion, seq);
