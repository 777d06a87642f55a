import { lakeTrinoType, starTable, type StarTableName } from '../../../functions/core/contract/star-tables';
import { readExtractManifest, readTransformManifest } from '../../../functions/core/lake/manifest-log';
import type { ExtractManifest, TransformManifest, TransformOutput } from '../../../functions/core/lake/manifests';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import { runDataTests, type DataTestResult } from '../../../functions/core/transform/data-tests';
import { transformPending } from '../../../functions/core/transform/transform';
import { openFolderPipeline, type FolderPipeline } from '../../../functions/local/folder-pipeline';
import { RawLake } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';

/**
 * The data tests of a batch that changed a by-key dimension (dim_transaction) and facts, in the one
 * query they share (data-tests.ts): the dimension's own tests read its change set alone, the facts'
 * keys are looked up in every segment (the base and the change sets), each fact's row count is
 * checked against the batch's versions — each shown to fail when it should, on DuckDB — and the keys
 * the change set adds to the dimension are counted.
 */

/** Current states kept as base + deltas even at this size, so batch 2 builds dim_transaction by key. */
const DELTAS = { compactBelowRows: 0, maxDeltaFraction: 100 };

/** Batch 2 with a new transaction: dim_transaction gets a change set holding transaction 3 only. */
const batchTwoAndTransaction = {
  ...batchTwo,
  transaction: [{ transaction_id: 3, transaction_type: 'SALE', sales_order_id: 2, purchase_order_id: null, created_at: '2022-11-05 10:00:00.000', last_updated: '2022-11-05 10:00:00.000' }],
};

describe('data tests of a batch with a by-key change set, in one query', () => {
  let lake: RawLake;
  let pipeline: FolderPipeline;
  let engine: QueryEngine;
  let extract: ExtractManifest;
  let manifest: TransformManifest;
  const queries: string[] = [];

  beforeAll(async () => {
    lake = await RawLake.create();
    pipeline = await openFolderPipeline({ lake: lake.dir, compaction: DELTAS });
    await lake.writeBatch(1, batchOne);
    await lake.writeBatch(2, batchTwoAndTransaction);
    await transformPending(pipeline.ctx);
    extract = await readExtractManifest(lake.ingestion, 2);
    manifest = await readTransformManifest(lake.processed, 2);
    const inner = pipeline.ctx.engine;
    engine = { name: inner.name, write: (...a) => inner.write(...a), query: (sql, b) => (queries.push(sql), inner.query(sql, b)), close: () => inner.close() };
  });
  afterAll(async () => {
    await pipeline.close();
    await lake.close();
  });

  /** A copy of batch 2's fact_payment partition with `select` (over `fact_payment`) instead of its rows. */
  const factPayment = async (name: string, select: string): Promise<TransformOutput> => {
    const table = starTable('fact_payment');
    const prefix = `star/fact_payment/test=${name}/`;
    const written = await pipeline.ctx.engine.write(select, { batch: {}, current: {}, star: { fact_payment: [manifest.star.fact_payment.prefix] } }, {
      table: 'fact_payment',
      prefix,
      columns: table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
      batchId: manifest.batchId,
      sqlHash: manifest.star.fact_payment.sqlHash,
      origin: 'test',
    });
    return { ...manifest.star.fact_payment, prefix, rows: written.rows, files: written.files };
  };
  /** Runs batch 2's data tests on `star` (its staged outputs, as its manifest lists them, with changes) and returns the failing ones. */
  const failing = async (star: Partial<TransformManifest['star']>, newKeys?: Map<StarTableName, number>): Promise<DataTestResult[]> => {
    queries.length = 0;
    const carried = (['dim_currency', 'dim_counterparty', 'dim_design', 'dim_location', 'dim_payment_type', 'fact_purchase_order'] as const).filter((t) => manifest.star[t]);
    return (await runDataTests({ engine }, extract, { ...manifest.star, ...star }, [], carried, newKeys)).filter((t) => !t.passed);
  };

  it('batch 2 added a change set to dim_transaction: its own tests read it alone, and all pass in one query', async () => {
    const dim = manifest.star.dim_transaction;
    expect(dim.deltas?.map((d) => d.prefix)).toEqual([dim.changes!.prefix]);
    const newKeys = new Map<StarTableName, number>();
    expect(await failing({}, newKeys)).toEqual([]);
    expect(queries).toHaveLength(1);
    // The same query counted the keys the change set adds (transaction 3): the manifest's row count has them.
    expect(newKeys).toEqual(new Map([['dim_transaction', 1]]));
    expect(dim.rows).toBe(3);
    expect((await readTransformManifest(lake.processed, 1)).star.dim_transaction.rows).toBe(2);
    // The facts' keys are looked up in every segment, each read only at the batch's keys (a semi-join).
    expect(queries[0]).toMatch(/FROM fact_payment f LEFT JOIN \(SELECT transaction_id FROM dim_transaction WHERE transaction_id IN \(SELECT transaction_id FROM fact_payment\) UNION ALL SELECT transaction_id FROM previous_dim_transaction WHERE transaction_id IN \(SELECT transaction_id FROM fact_payment\)\) d/);
  });

  it("finds a fact's key in the base or in the change set, and fails on a key in neither", async () => {
    // Transaction 2 is in the base only (batch 1), 3 in batch 2's change set only, 99 nowhere.
    const found = await factPayment('found', `SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (3 AS transaction_id) FROM fact_payment`);
    expect(await failing({ fact_payment: found })).toEqual([]);
    const missing = await factPayment('missing', `SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (99 AS transaction_id) FROM fact_payment`);
    expect(await failing({ fact_payment: missing })).toEqual([
      { name: 'relationship(transaction_id → dim_transaction.transaction_id)', table: 'fact_payment', passed: false, failures: 1, sample: [{ transaction_id: 99 }] },
    ]);
  });

  it('looks a dimension up once for every fact column that references it: each missing key fails its own test, a null none', async () => {
    // Batch 2's payment with a payment date and a counterparty that no dimension holds, and a copy
    // under a new id whose counterparty is null (a not_null failure, not a relationship one).
    const broken = await factPayment(
      'lookups',
      `SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (DATE '1999-01-01' AS payment_date, 999 AS counterparty_id) FROM fact_payment
       UNION ALL SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (payment_id + 100 AS payment_id, NULL AS counterparty_id) FROM fact_payment`,
    );
    const failed = await failing({ fact_payment: broken });
    expect(failed.filter((t) => t.name.startsWith('relationship'))).toEqual([
      { name: 'relationship(counterparty_id → dim_counterparty.counterparty_id)', table: 'fact_payment', passed: false, failures: 1, sample: [{ counterparty_id: 999 }] },
      { name: 'relationship(payment_date → dim_date.date_id)', table: 'fact_payment', passed: false, failures: 1, sample: [{ payment_date: '1999-01-01' }] },
    ]);
    expect(failed.map((t) => t.name)).toContain('not_null(counterparty_id)');
    // One join per dimension in the query: dim_date's serves both facts' date columns.
    expect(queries[0].match(/LEFT JOIN dim_date d/g)).toHaveLength(1);
    expect(queries[0]).toMatch(/AS looked_up FROM fact_sales_order UNION ALL .*AS looked_up FROM fact_payment\) AS v LEFT JOIN dim_date d/);
  });

  it("fails a fact whose rows are not the batch's distinct versions", async () => {
    const doubled = await factPayment('doubled', `SELECT * EXCLUDE (_batch_id, _sql_hash) FROM fact_payment UNION ALL SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (payment_id + 100 AS payment_id) FROM fact_payment`);
    expect(await failing({ fact_payment: doubled })).toEqual([
      { name: 'row_count(= distinct versions of extract payment)', table: 'fact_payment', passed: false, failures: 1, sample: [{ staged: 2, distinctVersions: 1, extractManifestRows: 2 }] },
    ]);
  });

  it("tests the dimension's change set, not its base: a key twice in the change set fails, a key of the base in it does not", async () => {
    const dim = manifest.star.dim_transaction;
    const changeSet = async (name: string, ids: number[]): Promise<TransformOutput> => {
      const table = starTable('dim_transaction');
      const prefix = `changes/dim_transaction/test=${name}/`;
      const select = ids.map((id) => `SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (${id} AS transaction_id) FROM dim_transaction`).join(' UNION ALL ');
      const written = await pipeline.ctx.engine.write(select, { batch: {}, current: {}, star: { dim_transaction: [dim.changes!.prefix] } }, {
        table: 'dim_transaction',
        prefix,
        columns: table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
        batchId: manifest.batchId,
        sqlHash: dim.sqlHash,
        origin: 'test',
      });
      const change = { prefix, files: written.files, rows: written.rows };
      return { ...dim, changes: change, deltas: [change] };
    };
    // Transaction 2 is also in the base: as an update of it, the change set still holds one row per key.
    const newKeys = new Map<StarTableName, number>();
    expect(await failing({ dim_transaction: await changeSet('update', [3, 2]) }, newKeys)).toEqual([]);
    expect(newKeys.get('dim_transaction')).toBe(1); // 2 is the base's
    expect((await failing({ dim_transaction: await changeSet('twice', [3, 3]) })).map((t) => `${t.table} ${t.name} ${t.failures}`)).toEqual(['dim_transaction unique(transaction_id) 1']);
  });

  it("counts a table's single-row tests (not_null, accepted_values) in one scan: each failure under its own test, a row failing two in both", async () => {
    // Batch 2's payment, then the same version three times more under new ids: one with no currency,
    // one with neither currency nor counterparty, one with neither counterparty nor paid.
    const broken = await factPayment(
      'nulls',
      `SELECT * EXCLUDE (_batch_id, _sql_hash) FROM fact_payment
       UNION ALL SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (payment_id + 100 AS payment_id, NULL AS currency_id) FROM fact_payment
       UNION ALL SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (payment_id + 200 AS payment_id, NULL AS currency_id, NULL AS counterparty_id) FROM fact_payment
       UNION ALL SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE (payment_id + 300 AS payment_id, NULL AS counterparty_id, NULL AS paid) FROM fact_payment`,
    );
    const failed = await failing({ fact_payment: broken });
    expect(failed.filter((t) => t.name.startsWith('not_null')).map((t) => `${t.name} ${t.failures}`).sort()).toEqual([
      'not_null(counterparty_id) 2',
      'not_null(currency_id) 2',
      'not_null(paid) 1',
    ]);
    expect(failed.find((t) => t.name === 'not_null(paid)')?.sample).toEqual([{ payment_id: expect.any(Number), last_updated_date: expect.anything(), last_updated_time: expect.anything() }]);
    // The scan the single-row tests share: one branch of the query reads fact_payment for all of them.
    expect(queries[0]).toMatch(/\(SELECT count\(CASE WHEN payment_id IS NULL THEN 1 END\) AS f\d+, count\(CASE WHEN created_date IS NULL THEN 1 END\) AS f\d+, .*? FROM fact_payment\) AS a CROSS JOIN \(VALUES \(\d+\), /);
    // An accepted value broken in the dimension's change set is counted in that scan too.
    const dim = manifest.star.dim_transaction;
    const table = starTable('dim_transaction');
    const prefix = 'changes/dim_transaction/test=accepted/';
    const written = await pipeline.ctx.engine.write(`SELECT * EXCLUDE (_batch_id, _sql_hash) REPLACE ('REFUND' AS transaction_type) FROM dim_transaction`, { batch: {}, current: {}, star: { dim_transaction: [dim.changes!.prefix] } }, {
      table: 'dim_transaction', prefix, columns: table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })), batchId: manifest.batchId, sqlHash: dim.sqlHash, origin: 'test',
    });
    const change = { prefix, files: written.files, rows: written.rows };
    expect((await failing({ dim_transaction: { ...dim, changes: change, deltas: [change] } })).map((t) => `${t.table} ${t.name} ${t.failures}`)).toEqual(['dim_transaction accepted_values(transaction_type) 1']);
  });
});
