/**
 * Crashes, retries, races and lost connections: after each fault the next run must finish the
 * work with nothing lost and nothing twice (oracle comparison and a clean verify).
 */
import { Client } from 'pg';
import type { Readable } from 'node:stream';
import { extract } from '../../functions/core/extract/extract';
import { loadPending } from '../../functions/core/load/load';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../functions/core/ports/object-store';
import type { QueryEngine, RelationBindings, WriteTarget } from '../../functions/core/ports/query-engine';
import { runCycle } from '../../functions/core/run-cycle';
import { transformPending } from '../../functions/core/transform/transform';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(60_000);

/** An object store that runs a hook (e.g. throws: the process "dies" there) before chosen operations. */
class FaultyStore implements ObjectStore {
  constructor(private readonly inner: ObjectStore, private readonly hook: (op: 'put' | 'get', key: string) => Promise<void> | void) {}
  get name(): string { return this.inner.name; }
  uri(key: string): string { return this.inner.uri(key); }
  async put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void> { await this.hook('put', key); return this.inner.put(key, body, options); }
  async putStream(key: string, body: Readable, options?: Omit<PutOptions, 'ifNoneMatch'>): Promise<{ bytes: number }> { await this.hook('put', key); return this.inner.putStream(key, body, options); }
  async get(key: string): Promise<Uint8Array> { await this.hook('get', key); return this.inner.get(key); }
  getStream(key: string): Promise<Readable> { return this.inner.getStream(key); }
  exists(key: string): Promise<boolean> { return this.inner.exists(key); }
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo> { return this.inner.list(prefix, options); }
  delete(keys: readonly string[]): Promise<void> { return this.inner.delete(keys); }
  expire(keys: readonly string[]): Promise<void> { return this.inner.expire(keys); }
}

/** An engine whose first `failures` writes fail like a transient Athena error. */
class FlakyEngine implements QueryEngine {
  constructor(private readonly inner: QueryEngine, private failures: number) {}
  get name() { return this.inner.name; }
  async write(select: string, bindings: RelationBindings, target: WriteTarget) {
    if (this.failures-- > 0) throw new Error('ThrottlingException: Rate exceeded (injected)');
    return this.inner.write(select, bindings, target);
  }
  query(sql: string, bindings?: RelationBindings) { return this.inner.query(sql, bindings); }
  close() { return this.inner.close(); }
}

const crash = new Error('process killed here (injected)');
let s: Scenario;

beforeAll(async () => {
  s = await openScenario('faults');
  await s.cycle();
});
afterAll(async () => s?.close());

async function change(): Promise<void> {
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id IN (1, 2)`);
  await s.sql(`UPDATE payment SET paid = NOT paid, last_updated = ${NOW} WHERE payment_id = 1`);
}

async function failingCycle(ctx: PipelineContext): Promise<unknown> {
  await s.beforeExtract();
  try {
    await runCycle(ctx);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await s.extracted();
  }
}

it('recovers when killed after the raw files but before the extract manifest', async () => {
  await change();
  const ctx = await s.context({ ingestion: new FaultyStore(s.ctx.ingestion, (op, key) => { if (op === 'put' && key.startsWith('manifests/extract/')) throw crash; }) });
  expect(await failingCycle(ctx)).toBeTruthy();
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('recovers when killed partway through the raw files (some tables written, others not)', async () => {
  await change();
  let rawFiles = 0;
  const ctx = await s.context({ ingestion: new FaultyStore(s.ctx.ingestion, (op, key) => { if (op === 'put' && key.startsWith('raw/') && ++rawFiles === 2) throw crash; }) });
  expect(await failingCycle(ctx)).toBeTruthy();
  expect(rawFiles).toBe(2);
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('recovers when killed after the transform outputs but before the transform manifest', async () => {
  await change();
  const ctx = await s.context({ processed: new FaultyStore(s.ctx.processed, (op, key) => { if (op === 'put' && key.startsWith('manifests/transform/')) throw crash; }) });
  expect(await failingCycle(ctx)).toBeTruthy();
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('recovers when killed in the middle of a load (after the first table was written)', async () => {
  await change();
  let gets = 0;
  const ctx = await s.context({ processed: new FaultyStore(s.ctx.processed, (op, key) => { if (op === 'get' && key.endsWith('.parquet') && ++gets === 2) throw crash; }) });
  expect(await failingCycle(ctx)).toBeTruthy();
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('lets only one of two concurrent runs publish each batch, and loads it once', async () => {
  if (s.source.kind === 'pglite') return console.warn('concurrent-run scenario skipped: PGlite serves one connection at a time');
  await change();
  const [a, b] = [await s.context(), await s.context()];
  await s.beforeExtract();
  const results = await Promise.allSettled([runCycle(a), runCycle(b)]);
  await s.extracted();
  expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
  await s.cycle(); // whatever a loser left pending
  expect(await s.check()).toEqual([]);
});

it('does nothing more when the same trigger is delivered twice', async () => {
  await change();
  await s.beforeExtract();
  await extract(s.ctx);
  await s.extracted();
  const [t1, t2] = [await transformPending(s.ctx), await transformPending(s.ctx)];
  expect(t1).toHaveLength(1);
  expect(t2).toHaveLength(0);
  const [l1, l2] = [await loadPending(s.ctx), await loadPending(s.ctx)];
  expect(l1.filter((l) => !l.skipped)).toHaveLength(1);
  expect(l2.filter((l) => !l.skipped)).toHaveLength(0);
  expect(await s.check()).toEqual([]);
});

it('fails cleanly when totesys or the warehouse is unreachable, and catches up after', async () => {
  await change();
  const noSource = await s.context({ source: urlLocator('postgres://nobody@127.0.0.1:1/none') });
  expect(String(await failingCycle(noSource))).toMatch(/Cannot connect to totesys/);
  const noWarehouse = await s.context({ warehouse: urlLocator('postgres://nobody@127.0.0.1:1/none') });
  expect(String(await failingCycle(noWarehouse))).toMatch(/load failed/);
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('survives totesys and the warehouse dropping the connection mid-batch', async () => {
  if (s.source.kind === 'pglite') return console.warn('connection-drop scenario skipped: needs a second connection to terminate the first');
  const terminate = async (url: string): Promise<void> => {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    } finally {
      await c.end();
    }
  };
  await change();
  let killed = false;
  const dropSource = await s.context({
    ingestion: new FaultyStore(s.ctx.ingestion, async (op, key) => { if (op === 'put' && key.startsWith('raw/') && !killed) { killed = true; await terminate(s.source.url); } }),
  });
  expect(await failingCycle(dropSource)).toBeTruthy();
  let dropped = false;
  const dropWarehouse = await s.context({
    processed: new FaultyStore(s.ctx.processed, async (op, key) => { if (op === 'get' && key.endsWith('.parquet') && !dropped) { dropped = true; await terminate(s.warehouse.url); } }),
  });
  expect(await failingCycle(dropWarehouse)).toBeTruthy();
  await s.cycle();
  expect(await s.check()).toEqual([]);
});

it('retries a batch whose query engine failed, without duplicating it', async () => {
  await change();
  const flaky = await s.context();
  const ctx = { ...flaky, engine: new FlakyEngine(flaky.engine, 1) };
  expect(String(await failingCycle(ctx))).toMatch(/ThrottlingException/);
  expect(await s.check()).not.toEqual([]); // the batch is extracted but not yet in the warehouse
  await runCycle(ctx); // same engine, now healthy: the pending batch goes through
  expect(await s.check()).toEqual([]);
});
