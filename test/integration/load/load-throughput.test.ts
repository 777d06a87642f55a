import { loadPending, warehouseRowCounts, type LoadMethod } from '../../../functions/core/load/load';
import { LoadFixture, warehouseDatabase, type WarehouseDb } from './load-fixtures';

/**
 * Load throughput of fact versions: one batch of N sales-order versions, loaded by each method the
 * warehouse supports, then a second batch of new versions of the same orders. Prints rows/s and
 * asserts every row arrived. N is 20 000 in the suite (more than one 50k-row chunk is exercised by
 * chunkRows tests elsewhere); measure with TOTES_LOAD_BENCH_ROWS=100000.
 */
const ROWS = Number(process.env.TOTES_LOAD_BENCH_ROWS ?? 20_000);

describe.each(['pglite', undefined] as const)('load throughput (%s)', (kind) => {
  let db: WarehouseDb;
  let fx: LoadFixture;

  beforeAll(async () => {
    db = await warehouseDatabase(kind);
    fx = await LoadFixture.create();
    for (const seq of [1, 2]) {
      const out = await fx.writeTableFromSelect(
        'fact_sales_order',
        seq,
        `SELECT i AS sales_order_id, DATE '2024-01-01' + (i % 365)::INTEGER AS created_date, '09:00:00.000' AS created_time,
                DATE '2025-01-01' + ${seq} AS last_updated_date, printf('%02d:%02d:%02d.%03d', i % 24, i % 60, (i * 7) % 60, i % 1000) AS last_updated_time,
                1 + i % 20 AS sales_staff_id, 1 + i % 20 AS counterparty_id, 1 + i % 100000 AS units_sold, ((i % 100000) / 100.0 + 2.5)::DECIMAL(10,2) AS unit_price,
                1 + i % 3 AS currency_id, 1 + i % 300 AS design_id, DATE '2025-02-01' + (i % 30)::INTEGER AS agreed_payment_date,
                DATE '2025-02-01' + (i % 40)::INTEGER AS agreed_delivery_date, 1 + i % 30 AS agreed_delivery_location_id
           FROM range(${ROWS}) r(i)`,
      );
      await fx.writeManifest(seq, { fact_sales_order: out });
    }
  });
  afterAll(async () => {
    await fx.close();
    await db.close();
  });

  it(`loads ${ROWS} fact rows per batch with every method`, async () => {
    const pglite = db.kind === 'pglite';
    const methods: LoadMethod[] = pglite ? ['unnest'] : ['unnest', 'copy'];
    for (const method of methods) {
      const schema = `bench_${method}`;
      const results = await loadPending(fx.context(db.url, schema), { method });
      expect(results.map((r) => r.tables.fact_sales_order?.written)).toEqual([ROWS, ROWS]);
      expect((await warehouseRowCounts(db.url, schema)).fact_sales_order).toBe(2 * ROWS);
      const line = results.map((r) => `batch ${r.seq}: ${r.elapsedMs} ms, ${Math.round((ROWS / r.elapsedMs) * 1000)} rows/s`).join('; ');
      console.log(`load throughput on ${pglite ? 'PGlite' : 'PostgreSQL'} (${method}), ${ROWS} fact rows per batch — ${line}`);
    }
  });
});
