/**
 * A hot standby as the source (functions/core/extract/late-commits.ts, snapshot-readers.ts): the
 * extract reads a streaming replica while writers commit on the primary, against the audit-trigger
 * oracle (installed on the primary, replicated like everything else).
 *
 * What differs on a standby: its pg_stat_activity does not list the primary's sessions, so the
 * bound cannot wait for a writer in flight there, and every transaction in flight at the snapshot
 * counts as long (the next batch scans the whole table for versions that snapshot did not see); its
 * snapshot cannot be exported, so one connection reads every table; its statistics do not count the
 * primary's deletes, so the deletion check tallies every table. Each case waits for the standby to
 * replay what the primary wrote before the oracle's mark, so the mark is what the extract's snapshot
 * sees.
 */
import { Client } from 'pg';
import { extract, type ExtractOptions } from '../../functions/core/extract/extract';
import { latestExtractManifest } from '../../functions/core/lake/manifest-log';
import { loadPending } from '../../functions/core/load/load';
import { transformPending } from '../../functions/core/transform/transform';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { urlLocator } from '../../functions/local/embedded-postgres';
import { describeRequiring } from '../support/requires';
import { standbySkipReason, testStandby, type TestStandby } from '../support/test-postgres';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(240_000);

describeRequiring('a hot standby as the source', standbySkipReason(), () => {
  let s: Scenario;
  let standby: TestStandby;
  let replica: PipelineContext;

  beforeAll(async () => {
    s = await openScenario('hot_standby');
    standby = await testStandby();
    replica = await s.context({ source: urlLocator(standby.url(s.source)) });
  });
  afterAll(async () => {
    await s?.close();
    await standby?.close();
  });

  /** One extract from the standby (after it caught up, oracle-marked), then transform and load. */
  async function run(options: ExtractOptions = {}) {
    await standby.caughtUp();
    await s.beforeExtract();
    const result = await extract(replica, options);
    await s.oracle.extracted(s.ctx.ingestion, result);
    await transformPending(s.ctx);
    await loadPending(s.ctx);
    return result;
  }

  const amend = (id: number) => s.sql(`UPDATE sales_order SET units_sold = units_sold % 500 + 1, last_updated = ${NOW} WHERE sales_order_id = $1`, [id]);

  it('runs a full load and an incremental batch from the standby', async () => {
    const first = await run();
    expect(first.published).toBe(true);
    expect(s.log.text('info')).toMatch(/hot standby, which cannot share a snapshot/);
    await amend(1);
    await s.sql(`DELETE FROM payment WHERE payment_id = (SELECT max(payment_id) FROM payment)`);
    const second = await run();
    expect(second.published).toBe(true);
    expect(second.manifest?.tables.payment?.deletions?.rows).toBe(1);
    // The standby's statistics never move (it counts no replayed change), so every batch tallies.
    expect(s.log.text('info')).toMatch(/full key tally of .*sales_order \(statistics counters have not moved/);
    expect(await s.check()).toEqual([]);
  });

  /** The sales order's stamp, and the sales_order cursor of the newest batch. */
  async function stampAndCursor(id: number): Promise<{ stamp: string; cursor: string }> {
    const [row] = await s.sql<{ t: string }>(`SELECT to_char(last_updated, 'YYYY-MM-DD HH24:MI:SS.MS') AS t FROM sales_order WHERE sales_order_id = $1`, [id]);
    return { stamp: row.t, cursor: (await latestExtractManifest(s.ctx.ingestion))!.tables.sales_order!.cursor!.lastUpdated };
  }

  it('rescues a primary writer in flight at the standby snapshot, stamped 2 s before its start and committed after the extract', async () => {
    // The writer's id is newer than every transaction completed at the standby's snapshot, so the
    // snapshot does not list it (its xmax is below it): the band reads it, as any version the
    // previous snapshot did not see.
    const w = new Client({ connectionString: s.source.url });
    await w.connect();
    try {
      await amend(2);
      await w.query('BEGIN');
      // 2 s before the honest amendment just committed, which the extract reads (whatever the time taken in between).
      await w.query(`UPDATE sales_order SET units_sold = 17, last_updated = (SELECT last_updated FROM sales_order WHERE sales_order_id = 2) - interval '2 s' WHERE sales_order_id = 3`);
      await standby.caughtUp();
      const during = await run();
      expect(during.published).toBe(true);
      await w.query('COMMIT');
    } finally {
      await w.end();
    }
    const { stamp, cursor } = await stampAndCursor(3);
    expect(stamp < cursor).toBe(true); // below the cursor: only the rescue reads it
    const next = await run();
    expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
    expect(await s.check()).toEqual([]);
  });

  it('tracks every transaction the standby snapshot lists as in flight as long: one stamped 10 minutes back is rescued by a whole-table scan', async () => {
    const w = new Client({ connectionString: s.source.url });
    await w.connect();
    try {
      await w.query('BEGIN');
      await w.query(`UPDATE sales_order SET units_sold = 19, last_updated = ${NOW} - interval '10 minutes' WHERE sales_order_id = 9`);
      await amend(10); // a later transaction completes: the standby's snapshot now lists the writer in flight
      await standby.caughtUp();
      const during = await run();
      expect(during.manifest?.source?.longInFlight.length).toBeGreaterThan(0);
      await w.query('COMMIT');
    } finally {
      await w.end();
    }
    const { stamp, cursor } = await stampAndCursor(9);
    expect(stamp < cursor).toBe(true);
    const next = await run();
    expect(next.manifest?.tables.sales_order?.rescued?.rows).toBe(1);
    expect(next.manifest?.tables.sales_order?.rescued?.reason).toMatch(/or below it: long-in-flight transaction \d+/);
    expect(await s.check()).toEqual([]);
  });

  it('repairs from the standby what no rescue covers', async () => {
    await amend(4);
    await run();
    await s.sql(`UPDATE sales_order SET units_sold = 18, last_updated = ${NOW} - interval '10 minutes' WHERE sales_order_id = 5`);
    await amend(6);
    await run();
    const repaired = await run({ repair: true });
    expect(repaired.manifest?.tables.sales_order?.repaired?.rows).toBe(1);
    expect(await s.check()).toEqual([]);
  });
});
