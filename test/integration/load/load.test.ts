import { STAR_TABLE_NAMES, type StarTableName } from '../../../functions/core/contract/star-tables';
import { transformManifestKey } from '../../../functions/core/lake/lake-layout';
import { loadPending, LoadOrderError, readWarehouseTable, warehouseRowCounts, type LoadOptions } from '../../../functions/core/load/load';
import { firstBatch, LoadFixture, payment, salesOrder, warehouseDatabase, withoutSurrogate, type StarBatch, type WarehouseDb } from './load-fixtures';

/**
 * The load stage end to end: Parquet written by DuckDB in the transform's shape, transform
 * manifests in a folder store, loaded into a real warehouse. Three runs of the same tests: PGlite
 * (unnest, the local default), and a PostgreSQL server with unnest and with `auto` (COPY there;
 * where no server can start, test-postgres falls back to PGlite and `auto` means unnest).
 * Assertions are on the warehouse's rows.
 */

const cases: { kind: 'pglite' | undefined; method: NonNullable<LoadOptions['method']> }[] = [
  { kind: 'pglite', method: 'unnest' },
  { kind: undefined, method: 'unnest' },
  { kind: undefined, method: 'auto' },
];

describe.each(cases)('loadPending ($kind, $method)', ({ kind, method }) => {
  // One database for the file (starting PGlite takes seconds); each test loads into its own schema.
  let db: WarehouseDb;
  let fx: LoadFixture;
  let schema: string;
  let tests = 0;

  beforeAll(async () => {
    db = await warehouseDatabase(kind);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    fx = await LoadFixture.create();
    schema = `load_${++tests}`;
  });
  afterEach(async () => {
    await fx.close();
  });

  const load = (s = schema) => loadPending(fx.context(db.url, s), { method });
  const table = async (name: StarTableName, s = schema) => withoutSurrogate(name, await readWarehouseTable(db.url, s, name));
  const snapshot = async (s = schema) => {
    const all: Record<string, unknown> = {};
    for (const name of [...STAR_TABLE_NAMES, 'load_ledger']) all[name] = await readWarehouseTable(db.url, s, name);
    return all;
  };

  /** Batch 2: sales order 1 amended (a new version), staff 2 moved department, payment 1 paid. */
  const secondBatch = (): StarBatch => {
    const b = firstBatch();
    b.dim_staff![1] = { ...b.dim_staff![1], department_name: 'Sales', location: 'Leeds' };
    b.fact_sales_order = [salesOrder('1', '2025-01-02', '08:00:00.000', '9', '3.10')];
    b.fact_purchase_order = [];
    b.fact_payment = [payment('1', '2025-01-02', '08:30:00.250', 'true')];
    return b;
  };

  it('loads a first batch exactly, then a second with new fact versions and upserted dimensions', async () => {
    const first = firstBatch();
    await fx.writeBatch(1, first);

    const [r1] = await load();
    expect(r1).toMatchObject({ batchId: fx.batchId(1), seq: 1, skipped: false, method: method === 'auto' && db.kind === 'server' ? 'copy' : 'unnest' });
    expect(r1.tables.fact_sales_order).toEqual({ read: 2, written: 2, files: 1 });
    for (const name of STAR_TABLE_NAMES) expect({ name, rows: await table(name) }).toEqual({ name, rows: first[name] });

    await fx.writeBatch(2, secondBatch());
    const r2 = await load();
    expect(r2.map((r) => [r.seq, r.skipped])).toEqual([[2, false]]);
    expect(r2[0].tables.dim_staff).toEqual({ read: 2, written: 1, files: 1 }); // only the changed row is rewritten
    expect(r2[0].tables.dim_date).toEqual({ read: 3, written: 0, files: 1 });

    expect(await table('fact_sales_order')).toEqual([
      first.fact_sales_order![0],
      salesOrder('1', '2025-01-02', '08:00:00.000', '9', '3.10'),
      first.fact_sales_order![1],
    ]);
    expect((await table('fact_payment')).map((p) => [p.payment_id, p.last_updated_date, p.last_updated_time, p.paid])).toEqual([
      ['1', '2025-01-01', '11:00:00.000', 'false'],
      ['1', '2025-01-02', '08:30:00.250', 'true'],
      ['2', '2025-01-01', '11:00:00.500', 'false'],
    ]);
    expect(await table('dim_staff')).toEqual([first.dim_staff![0], { ...first.dim_staff![1], department_name: 'Sales', location: 'Leeds' }]);
    const facts = await readWarehouseTable(db.url, schema, 'fact_sales_order');
    expect(facts.map((f) => f.sales_record_id)).toEqual(['1', '3', '2']); // surrogate in load order

    const ledger = await readWarehouseTable(db.url, schema, 'load_ledger');
    expect(ledger.map((l) => [l.batch_id, l.seq])).toEqual([[fx.batchId(1), '1'], [fx.batchId(2), '2']]);
    expect(JSON.parse(ledger[1].rows!)).toMatchObject({ fact_sales_order: { read: 1, written: 1 }, fact_purchase_order: { read: 0, written: 0 } });
    expect(JSON.parse(ledger[1].sql_versions!).dim_staff).toEqual({ origin: 'sql/transform/dim_staff.sql', sqlHash: 'hash-dim_staff' });
  });

  it('re-running loads nothing again, and a fact version already present is not duplicated', async () => {
    await fx.writeBatch(1, firstBatch());
    await load();
    const before = await snapshot();
    expect(await load()).toEqual([]);
    expect(await snapshot()).toEqual(before);

    // A batch repeating a version that is already loaded (re-extracted row) adds nothing.
    await fx.writeBatch(2, { fact_sales_order: firstBatch().fact_sales_order });
    const [r2] = await load();
    expect(r2.tables.fact_sales_order).toEqual({ read: 2, written: 0, files: 1 });
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ fact_sales_order: 2, load_ledger: 2 });
  });

  it('two loads at once load each batch once', async () => {
    await fx.writeBatch(1, firstBatch());
    await fx.writeBatch(2, secondBatch());
    const [a, b] = await Promise.all([load(), load()]);
    const loaded = [...a, ...b].filter((r) => !r.skipped).map((r) => r.seq).sort();
    expect(loaded).toEqual([1, 2]);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ fact_sales_order: 3, fact_payment: 3, load_ledger: 2 });
  });

  it('refuses a batch whose predecessor is missing, after loading those before it', async () => {
    await fx.writeBatch(1, firstBatch());
    await fx.writeBatch(2, secondBatch());
    await fx.writeBatch(4, { dim_currency: [{ currency_id: '3', currency_code: 'EUR', currency_name: 'Euro' }] });

    const err: unknown = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadOrderError);
    expect((err as Error).message).toMatch(new RegExp(`Cannot load batch ${fx.batchId(4)} \\(seq 4\\): batch seq 3 is not in the load ledger of schema ${schema}`));
    expect((err as LoadOrderError).loaded.map((r) => r.seq)).toEqual([1, 2]);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ dim_currency: 2, load_ledger: 2 });

    await fx.writeBatch(3, {});
    expect((await load()).map((r) => r.seq)).toEqual([3, 4]);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ dim_currency: 3, load_ledger: 4 });

    // A warehouse that has loaded batches looks for the next ones by name, not by listing the log
    // (manifest-log.ts manifestSeqsAfter); a manifest missing before a transformed batch still stops it.
    await fx.writeBatch(6, {});
    const gap: unknown = await load().catch((e: unknown) => e);
    expect(gap).toBeInstanceOf(LoadOrderError);
    expect((gap as Error).message).toMatch(/Cannot load the batches after seq 4 \(transformed up to seq 6\): transform manifest manifests\/transform\/0000000005\.json is missing/);
    await fx.writeBatch(5, {});
    expect((await load()).map((r) => r.seq)).toEqual([5, 6]);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ load_ledger: 6 });

    // A transform that publishes the next batch just after the load asked for it is no gap: that batch loads.
    const exists = fx.processed.exists.bind(fx.processed);
    let raced = false;
    fx.processed.exists = async (key: string) => {
      const answer = await exists(key);
      if (key === transformManifestKey(7) && !raced) {
        raced = true;
        await fx.writeBatch(7, {});
      }
      return answer;
    };
    try {
      expect((await load()).map((r) => r.seq)).toEqual([7]);
    } finally {
      fx.processed.exists = exists;
    }
    expect(raced).toBe(true);
  });

  it('a failing batch leaves the warehouse unchanged and names batch, table and file', async () => {
    await fx.writeBatch(1, firstBatch());
    await load();
    const before = await snapshot();

    const out = await fx.writeTable('fact_payment', 2, secondBatch().fact_payment!);
    await fx.processed.put(out.files[0], 'PAR1 this is not parquet PAR1');
    const dims = secondBatch();
    const star = { dim_staff: await fx.writeTable('dim_staff', 2, dims.dim_staff!), fact_sales_order: await fx.writeTable('fact_sales_order', 2, dims.fact_sales_order!), fact_payment: out };
    await fx.writeManifest(2, star);

    await expect(load()).rejects.toThrow(
      new RegExp(`Load of batch ${fx.batchId(2)} failed on table fact_payment \\(file ${out.files[0].replace(/[.]/g, '\\.')} in .*\\): .*not a readable Parquet file`),
    );
    expect(await snapshot()).toEqual(before); // dim_staff and fact_sales_order of batch 2 rolled back too

    // Repaired, the batch loads.
    await fx.writeTable('fact_payment', 2, secondBatch().fact_payment!);
    expect((await load()).map((r) => [r.seq, r.skipped])).toEqual([[2, false]]);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ fact_sales_order: 3, fact_payment: 3, load_ledger: 2 });
  });

  it('a manifest row count that disagrees with its files fails the batch', async () => {
    const out = await fx.writeTable('dim_design', 1, firstBatch().dim_design!);
    await fx.writeManifest(1, { dim_design: { ...out, rows: 5 } });
    await expect(load()).rejects.toThrow(/failed on table dim_design .*the transform manifest says 5 rows, its files hold 1/);
    expect(await warehouseRowCounts(db.url, schema)).toMatchObject({ dim_design: 0, load_ledger: 0 });
  });

  it('records the deletions a batch carries in deleted_rows, once each', async () => {
    await fx.writeBatch(1, firstBatch());
    await fx.writeManifest(2, {}, { design: [{ id: 8, detectedAt: '2025-01-02 03:04:05.600' }], staff: [{ id: 2, detectedAt: '2025-01-02 03:04:05.600' }] });
    await fx.writeManifest(3, {}, { design: [{ id: 8, detectedAt: '2025-01-02 03:09:05.000' }] });
    expect((await load()).map((r) => [r.seq, r.deletedRows])).toEqual([[1, 0], [2, 2], [3, 0]]);
    expect(await readWarehouseTable(db.url, schema, 'deleted_rows')).toEqual([
      { source_table: 'design', source_id: '8', detected_at: '2025-01-02 03:04:05.600', batch_id: fx.batchId(2) },
      { source_table: 'staff', source_id: '2', detected_at: '2025-01-02 03:04:05.600', batch_id: fx.batchId(2) },
    ]);
    expect(await table('dim_design')).toEqual(firstBatch().dim_design); // recorded, not deleted
  });

  it('picks unnest on PGlite and COPY on a real server by itself, in chunks of any size', async () => {
    const first = firstBatch();
    await fx.writeBatch(1, first);
    const [r] = await loadPending(fx.context(db.url, schema), { chunkRows: 1 });
    expect(r.method).toBe(db.kind === 'pglite' ? 'unnest' : 'copy');
    for (const name of STAR_TABLE_NAMES) expect({ name, rows: await table(name) }).toEqual({ name, rows: first[name] });
  });

  it('loads into the default public schema too, and refuses a bad schema name', async () => {
    // Every other test loads into its own schema (the --warehouse-schema option); this one uses the default.
    await fx.writeBatch(1, firstBatch());
    const [r] = await loadPending(fx.context(db.url), { method });
    expect(r.skipped).toBe(false);
    expect(await table('dim_staff', 'public')).toEqual(firstBatch().dim_staff);
    expect(await warehouseRowCounts(db.url, 'public')).toMatchObject({ fact_sales_order: 2, load_ledger: 1 });
    await expect(warehouseRowCounts(db.url, schema)).rejects.toThrow(/does not exist/); // nothing outside the chosen schema
    await expect(load('bad-name')).rejects.toThrow(/Invalid warehouse schema name "bad-name"/);
  });
});
