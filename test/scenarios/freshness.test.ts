/**
 * Freshness as the brief defines it (core/operate/freshness.ts), and a pipeline that heals on the
 * next run, locally, on the scenario world (totesys seeded as of 2024: its newest change is old):
 *  - before the first load freshness is unknown; then it is the batch's bound;
 *  - a quiet source stays fresh over several runs (each records a heartbeat, no batch), and the
 *    SLA is breached once runs stop;
 *  - a transform that fails (and a load that fails) while the source stays quiet is resumed by the
 *    next run; meanwhile freshness ages, the backlog says which batch waits, and the run history
 *    records freshness on the failed runs too.
 * Each ends with the oracle comparison and a clean verify.
 */
import type { Freshness } from '../../functions/core/operate/freshness';
import { readPipelineStatus } from '../../functions/core/operate/pipeline-status';
import { readRunHistory } from '../../functions/core/operate/run-history';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { QueryEngine, RelationBindings, WriteTarget } from '../../functions/core/ports/query-engine';
import { runCycle } from '../../functions/core/run-cycle';
import { verify } from '../../functions/core/verify/verify';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(120_000);

/** An engine that fails every write while `down` is set, as Athena does during an outage. */
class OutageEngine implements QueryEngine {
  down = true;
  constructor(private readonly inner: QueryEngine) {}
  get name() { return this.inner.name; }
  async write(select: string, bindings: RelationBindings, target: WriteTarget) {
    if (this.down) throw new Error('ServiceUnavailable: Athena is down (injected)');
    return this.inner.write(select, bindings, target);
  }
  query(sql: string, bindings?: RelationBindings) { return this.inner.query(sql, bindings); }
  close() { return this.inner.close(); }
}

let s: Scenario;
beforeAll(async () => {
  s = await openScenario('freshness');
});
afterAll(async () => s?.close());

/** `totes status` as of `now` against an SLA of one minute. */
const status = (now = new Date(), slaSeconds = 60) =>
  readPipelineStatus({ ingestion: s.ctx.ingestion, processed: s.ctx.processed, warehouseUrl: async () => s.warehouse.url, warehouseSchema: 'public', now, slaSeconds, runs: 50 });

/** One run that is expected to fail; returns its error. */
async function failingCycle(ctx: PipelineContext): Promise<Error> {
  await s.beforeExtract();
  try {
    await runCycle(ctx);
  } catch (err) {
    return err as Error;
  } finally {
    await s.extracted();
  }
  throw new Error('the cycle was expected to fail');
}

async function change(): Promise<void> {
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 3`);
}

it('first run: freshness is unknown until a batch is loaded, then it is that batch\'s bound', async () => {
  const before = await status();
  expect(before.freshness).toBeNull();
  expect(before.sla).toMatchObject({ breached: true, reason: 'no batch has been loaded into the warehouse yet' });
  const first = await s.cycle();
  expect(first.run?.freshness).toMatchObject({ seq: 1, via: 'batch' });
  expect(first.run!.freshness!.seconds).toBeLessThan(30);
  expect((await status()).sla.breached).toBe(false);
});

it('a quiet source stays fresh over several runs, though its newest change is from 2024; the SLA breaks when runs stop', async () => {
  const seen: Freshness[] = [];
  for (let run = 0; run < 4; run++) {
    const cycle = await s.cycle();
    expect(cycle.extract).toMatchObject({ published: false, reason: 'nothing-new' });
    seen.push(cycle.run!.freshness!);
  }
  for (const f of seen) {
    expect(f).toMatchObject({ seq: 1, via: 'heartbeat' });
    expect(f.seconds).toBeLessThan(10);
  }
  // Each quiet run moved the instant the warehouse reflects forward.
  expect(seen.map((f) => f.sourceAt)).toEqual([...seen.map((f) => f.sourceAt)].sort());
  expect(new Set(seen.map((f) => f.sourceAt)).size).toBe(4);

  const now = await status();
  expect(now.sla.breached).toBe(false);
  expect(now.freshness).toMatchObject({ seq: 1, via: 'heartbeat', sourceAt: seen.at(-1)!.sourceAt });
  expect(now.backlog).toMatchObject({ batches: 0, state: 'none' });
  expect(now.sourceTables.find((t) => t.table === 'sales_order')!.loadedNewest! < '2025').toBe(true);
  // No run for longer than the SLA: breached.
  const later = await status(new Date(Date.now() + 90_000));
  expect(later.sla.breached).toBe(true);
  expect(later.sla.reason).toMatch(/^freshness 1m \d\ds is past the SLA of 1m 00s$/);
  expect((await verify(s.ctx)).freshness).toMatchObject({ seq: 1, via: 'heartbeat' });
  expect(await s.check()).toEqual([]);
});

it('a transform failing while the source is quiet is resumed by the next run; meanwhile freshness ages', async () => {
  await change();
  const outage = await s.context();
  const engine = new OutageEngine(outage.engine);
  const broken = { ...outage, engine };
  expect((await failingCycle(broken)).message).toMatch(/transform failed: .*Athena is down/);
  // The source stays quiet: later runs extract nothing, and the transform keeps failing.
  expect((await failingCycle(broken)).message).toMatch(/transform failed/);

  const stuck = await status();
  expect(stuck.freshness).toMatchObject({ seq: 1 });
  expect(stuck.backlog).toMatchObject({ batches: 1, next: { seq: 2 }, state: 'quarantined' });
  const afterSla = await status(new Date(Date.now() + 61_000));
  expect(afterSla.sla.breached).toBe(true);
  expect(afterSla.sla.reason).toMatch(/1 batch\(es\) extracted but not loaded, the oldest \S+ quarantined \(report quarantine\//);
  // The failed runs recorded the warehouse's freshness too (still batch 1's).
  const failed = (await readRunHistory(s.ctx.processed)).records.filter((r) => r.outcome === 'failed');
  expect(failed.map((r) => [r.failure?.stage, r.freshness?.seq])).toEqual([['transform', 1], ['transform', 1]]);

  engine.down = false; // the outage ends; the next run is an ordinary one
  await s.beforeExtract();
  const healed = await runCycle(broken);
  await s.extracted();
  expect(healed.extract).toMatchObject({ published: false, reason: 'nothing-new' });
  expect(healed.transformed.map((t) => t.seq)).toEqual([2]);
  expect(healed.loaded.filter((l) => !l.skipped).map((l) => l.seq)).toEqual([2]);
  expect(healed.run!.freshness).toMatchObject({ seq: 2, via: 'heartbeat' });
  expect((await status()).sla.breached).toBe(false);
  expect(await s.check()).toEqual([]);
});

it('a load failing is resumed by the next run', async () => {
  await change();
  const noWarehouse = await s.context({ warehouse: urlLocator('postgres://nobody@127.0.0.1:1/none') });
  expect((await failingCycle(noWarehouse)).message).toMatch(/load failed/);
  expect((await status()).backlog).toMatchObject({ batches: 1, next: { seq: 3 }, state: 'to-load' });
  const healed = await s.cycle();
  expect(healed.extract.reason).toBe('nothing-new');
  expect(healed.loaded.filter((l) => !l.skipped).map((l) => l.seq)).toEqual([3]);
  expect(healed.run!.freshness).toMatchObject({ seq: 3, via: 'heartbeat' });
  expect(await s.check()).toEqual([]);
});
