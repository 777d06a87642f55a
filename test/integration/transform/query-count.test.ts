import { readTransformManifest } from '../../../functions/core/lake/manifest-log';
import { TransformManifest } from '../../../functions/core/lake/manifests';
import { buildRunRecord } from '../../../functions/core/operate/run-history';
import { RunRecord } from '../../../functions/core/operate/run-record';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import { transformPending } from '../../../functions/core/transform/transform';
import { RawLake } from './raw-lake';
import { batchOne, batchTwo, department, salesOrder } from './totesys-rows';

/**
 * The transform's count of its engine round trips (functions/core/transform/query-tally.ts) on
 * DuckDB, for the two hand-written batches of transform.test.ts: exact numbers, checked against an
 * independent log of the calls the engine received, in the manifest and the run record.
 */

describe('engine queries per batch, on DuckDB', () => {
  let lake: RawLake;
  /** Every call the engine received, in order. */
  const calls: string[] = [];
  let ctx: PipelineContext;

  beforeAll(async () => {
    // One statement at a time, in the order sent: the critical path measures what happened
    // (query-tally.ts), and statements that run at once (DuckDB's default) can finish in an order
    // that sends a chain's next statement after a deeper one of another chain finished.
    lake = await RawLake.create({ duckdbConnections: 1 });
    const engine = lake.ctx.engine;
    const logged: QueryEngine = {
      name: engine.name,
      write: (sql, bindings, target) => (calls.push(`write ${target.prefix}`), engine.write(sql, bindings, target)),
      query: (sql, bindings) => (calls.push(`query ${sql.slice(0, 60)}`), engine.query(sql, bindings)),
      close: () => engine.close(),
    };
    ctx = { ...lake.ctx, engine: logged };
  });
  afterAll(async () => lake.close());

  it('a first batch: every statement counted, independent ones sent together ten at a time, bytes unknown', async () => {
    await lake.writeBatch(1, batchOne);
    const [result] = await transformPending(ctx);
    const manifest = await readTransformManifest(lake.processed, 1);
    // The input check beside 11 current states and the 3 facts (they read only the batch:
    // transform.ts stageFacts), ten statements at a time (one by one on one connection) (levels
    // 1–2: staging does not wait for the check); the 8 dimensions (3); the unknown-currency check
    // (4); the data tests of the 11 tables with the facts' row counts in one query (level 5): the
    // single-row tests of a table share a scan, so the whole batch fits Trino's stage budget. The
    // facts were built with the dimensions before, 11 star tables in levels 3–4: a critical path of 6.
    expect(calls).toHaveLength(25);
    expect(manifest.engineQueries).toEqual({ queries: 25, criticalPath: 5, bytesScanned: null });
    expect(result.manifest.engineQueries).toEqual(manifest.engineQueries);
  });

  it('a second batch counts only its own statements: fewer, as dimensions carry forward and untouched tables keep their state', async () => {
    calls.length = 0;
    await lake.writeBatch(2, batchTwo);
    const [result] = await transformPending(ctx);
    const manifest = await readTransformManifest(lake.processed, 2);
    // The input check and, beside it, the current states of the 3 tables with rows (department,
    // sales_order, payment: deltas) and dim_date's row count (it reads the batch and the previous
    // calendar, not the current state: transform.ts countGrowingTables), the 2 facts with versions
    // (they read only the batch: stageFacts; level 1); then, side by side, dim_date's build and
    // change set at once (its calendar grew), dim_staff and its change set at once (level 2); one query for the data tests of the 4 tables written
    // and the 2 facts' row counts (level 3). A dimension's change set is computed from its SELECT
    // beside the rebuild, not after it (transform.ts writeDimensionChanges): level 5 before, and 4
    // while the count waited for the current states.
    expect(calls).toHaveLength(12);
    expect(manifest.engineQueries).toEqual({ queries: 12, criticalPath: 3, bytesScanned: null });
    const record = buildRunRecord({ startedAt: new Date(), finishedAt: new Date(), engine: 'duckdb', transform: { results: [result], elapsedMs: 1 } });
    expect(record.stages.transform?.batches[0].engineQueries).toEqual(manifest.engineQueries);
    // The record and the manifest round-trip through their schemas.
    expect(RunRecord.parse(JSON.parse(JSON.stringify(record))).stages.transform?.batches[0].engineQueries).toEqual(manifest.engineQueries);
    expect(TransformManifest.parse(JSON.parse(JSON.stringify(manifest))).engineQueries).toEqual(manifest.engineQueries);
  });

  it("a batch none of whose rows dim_date reads sends no count for it, early or late", async () => {
    calls.length = 0;
    await lake.writeBatch(3, { department: [department(1, 'Sales', 'Leeds', '2022-11-06 09:00:00.000')] });
    await transformPending(ctx);
    const manifest = await readTransformManifest(lake.processed, 3);
    // department's delta (level 1); dim_staff and its change set (2); their data tests (3).
    expect(calls.filter((c) => c.startsWith('query SELECT count(*) AS n FROM'))).toEqual([]);
    expect(manifest.star.dim_date.builtBy).toBeDefined();
    expect(manifest.engineQueries).toEqual({ queries: calls.length, criticalPath: 3, bytesScanned: null });
  });

  it('a batch in which no dimension changes: its fact beside the current state, then the tests (two levels, three before)', async () => {
    calls.length = 0;
    // An amendment of sales order 1, its dates inside the calendar: no dimension reads sales_order.
    await lake.writeBatch(4, { sales_order: [salesOrder(1, { last_updated: '2022-11-05 10:00:00.000', units_sold: 121, agreed_delivery_date: '2022-11-12' })] });
    await transformPending(ctx);
    const manifest = await readTransformManifest(lake.processed, 4);
    // Level 1: the input check, sales_order's delta, dim_date's count and the fact's partition; level 2: the tests.
    expect(manifest.star.fact_sales_order.rows).toBe(1);
    expect(manifest.star.dim_date.builtBy).toBeDefined();
    expect(calls.filter((c) => c.startsWith('write star/fact_sales_order/'))).toHaveLength(1);
    expect(manifest.engineQueries).toEqual({ queries: 5, criticalPath: 2, bytesScanned: null });
  });

  it('reads a manifest written before the count (no engineQueries) as before', async () => {
    const { engineQueries, ...older } = await readTransformManifest(lake.processed, 2);
    expect(engineQueries).toBeDefined();
    expect(TransformManifest.parse(older).engineQueries).toBeUndefined();
  });
});
