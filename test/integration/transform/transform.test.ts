import { rm } from 'node:fs/promises';
import { currentPrefix, dimensionPrefix, factBatchPrefix, rawKey, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import { extractBound, readExtractManifest, readTransformManifest } from '../../../functions/core/lake/manifest-log';
import { lakeBindings } from '../../../functions/core/transform/lake-bindings';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { transformPending } from '../../../functions/core/transform/transform';
import type { openFolderPipeline } from '../../../functions/local/folder-pipeline';
import { RawLake, REPO_ROOT } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';

/**
 * The transform end to end on a hand-written raw lake: real DuckDB, real Parquet, the local
 * catalog, and the SQL files of sql/transform/ unchanged. Outputs are read back row for row.
 */

type OpenFolderPipeline = typeof openFolderPipeline;

const strip = (rows: Record<string, unknown>[]): Record<string, unknown>[] =>
  rows.map(({ _batch_id, _sql_hash, ...rest }) => rest);

describe('transformPending', () => {
  let lake: RawLake;
  let hashes: Record<string, string>;
  let b1: string;
  let b2: string;

  beforeAll(async () => {
    lake = await RawLake.create();
    hashes = Object.fromEntries((await loadSqlFiles(REPO_ROOT)).map((f) => [f.table.name, f.sqlHash]));
    b1 = lake.batchId(1);
    b2 = lake.batchId(2);
    await lake.writeBatch(1, batchOne);
  });
  afterAll(async () => lake.close());

  describe('first batch', () => {
    it('transforms the one waiting batch and writes its manifest', async () => {
      const results = await transformPending(lake.ctx);
      expect(results.map((r) => [r.seq, r.batchId])).toEqual([[1, b1]]);
      const manifest = await readTransformManifest(lake.processed, 1);
      expect(manifest.engine).toBe('duckdb');
      expect(manifest.star.fact_sales_order).toMatchObject({ kind: 'fact', prefix: factBatchPrefix('fact_sales_order', b1), rows: 2, sqlHash: hashes.fact_sales_order });
      expect(manifest.star.dim_currency).toMatchObject({ kind: 'dimension', prefix: dimensionPrefix('dim_currency', b1), rows: 4 });
      expect(manifest.current.address).toBe(currentPrefix('address', b1));
      expect(manifest.currentOutputs.address).toMatchObject({ kind: 'current', origin: 'generated', rows: 2 });
      // What the load needs of the extract is copied here: it reads no extract manifest.
      const extracted = await readExtractManifest(lake.ingestion, 1);
      expect(manifest.extract).toEqual({ snapshotAt: extracted.snapshotAt, upperBound: extractBound(extracted) });
      expect(await transformPending(lake.ctx)).toEqual([]);
    });

    it('splits timestamps into a date and an HH:MM:SS.mmm time, and agreed text dates into dates', async () => {
      const rows = await lake.readParquet(factBatchPrefix('fact_sales_order', b1), 'sales_order_id');
      expect(rows).toEqual([
        {
          sales_order_id: 1, created_date: '2022-11-03', created_time: '14:20:49.962', last_updated_date: '2022-11-03', last_updated_time: '14:20:49.962',
          sales_staff_id: 1, counterparty_id: 1, units_sold: 100, unit_price: '2.50', currency_id: 1, design_id: 1,
          agreed_payment_date: '2022-11-07', agreed_delivery_date: '2022-11-10', agreed_delivery_location_id: 1,
          _batch_id: b1, _sql_hash: hashes.fact_sales_order,
        },
        {
          sales_order_id: 2, created_date: '2022-11-04', created_time: '10:00:00.000', last_updated_date: '2022-11-04', last_updated_time: '10:00:00.000',
          sales_staff_id: 1, counterparty_id: 1, units_sold: 7, unit_price: '3.00', currency_id: 3, design_id: 1,
          agreed_payment_date: '2022-11-06', agreed_delivery_date: '2022-11-06', agreed_delivery_location_id: 2,
          _batch_id: b1, _sql_hash: hashes.fact_sales_order,
        },
      ]);
      expect(strip(await lake.readParquet(factBatchPrefix('fact_purchase_order', b1), 'purchase_order_id'))).toEqual([
        {
          purchase_order_id: 1, created_date: '2022-11-03', created_time: '15:00:00.001', last_updated_date: '2022-11-03', last_updated_time: '15:00:00.001',
          staff_id: 2, counterparty_id: 1, item_code: 'ZDOI5EA', item_quantity: 371, item_unit_price: '361.39', currency_id: 2,
          agreed_delivery_date: '2022-11-09', agreed_payment_date: '2022-11-05', agreed_delivery_location_id: 2,
        },
      ]);
      expect(strip(await lake.readParquet(factBatchPrefix('fact_payment', b1), 'payment_id'))).toEqual([
        {
          payment_id: 1, created_date: '2022-11-04', created_time: '08:00:00.000', last_updated_date: '2022-11-04', last_updated_time: '08:00:00.000',
          transaction_id: 2, counterparty_id: 1, payment_amount: '1234.50', currency_id: 2, payment_type_id: 3, paid: false, payment_date: '2022-11-08',
        },
      ]);
    });

    it('builds dim_date as a gapless calendar with ISO day_of_week and English names', async () => {
      const rows = strip(await lake.readParquet(dimensionPrefix('dim_date', b1), 'date_id'));
      expect(rows.map((r) => r.date_id)).toEqual(['2022-11-03', '2022-11-04', '2022-11-05', '2022-11-06', '2022-11-07', '2022-11-08', '2022-11-09', '2022-11-10']);
      expect(rows.find((r) => r.date_id === '2022-11-06')).toEqual({
        date_id: '2022-11-06', year: 2022, month: 11, day: 6, day_of_week: 7, day_name: 'Sunday', month_name: 'November', quarter: 4,
      });
      expect(rows.find((r) => r.date_id === '2022-11-07')).toMatchObject({ day_of_week: 1, day_name: 'Monday' });
      expect(rows.map((r) => r.day_of_week)).toEqual([4, 5, 6, 7, 1, 2, 3, 4]);
    });

    it('names currencies in ISO 4217 English and keeps an unknown code with a NULL name', async () => {
      expect(strip(await lake.readParquet(dimensionPrefix('dim_currency', b1), 'currency_id'))).toEqual([
        { currency_id: 1, currency_code: 'GBP', currency_name: 'Pound Sterling' },
        { currency_id: 2, currency_code: 'USD', currency_name: 'US Dollar' },
        { currency_id: 3, currency_code: 'EUR', currency_name: 'Euro' },
        { currency_id: 4, currency_code: 'JPY', currency_name: null },
      ]);
    });

    it('keeps NULL parts NULL in dim_location, dim_staff, dim_counterparty and dim_transaction', async () => {
      expect(strip(await lake.readParquet(dimensionPrefix('dim_location', b1), 'location_id'))).toEqual([
        { location_id: 1, address_line_1: '1 Tote Street', address_line_2: null, district: null, city: 'Leeds', postal_code: 'LS1 1AA', country: 'United Kingdom', phone: '0113 000 0001' },
        { location_id: 2, address_line_1: '2 Tote Street', address_line_2: 'Unit 7', district: 'Holbeck', city: 'Leeds', postal_code: 'LS2 1AA', country: 'United Kingdom', phone: '0113 000 0002' },
      ]);
      expect(strip(await lake.readParquet(dimensionPrefix('dim_staff', b1), 'staff_id'))).toEqual([
        { staff_id: 1, first_name: 'Jeremie', last_name: 'Franey', department_name: 'Sales', location: null, email_address: 'jeremie.franey@terrifictotes.com' },
        { staff_id: 2, first_name: 'Deron', last_name: 'Beier', department_name: 'Purchasing', location: 'Leeds', email_address: 'deron.beier@terrifictotes.com' },
      ]);
      expect(strip(await lake.readParquet(dimensionPrefix('dim_counterparty', b1), 'counterparty_id'))).toEqual([
        {
          counterparty_id: 1, counterparty_legal_name: 'Fahey and Sons',
          counterparty_legal_address_line_1: '2 Tote Street', counterparty_legal_address_line_2: 'Unit 7', counterparty_legal_district: 'Holbeck',
          counterparty_legal_city: 'Leeds', counterparty_legal_postal_code: 'LS2 1AA', counterparty_legal_country: 'United Kingdom',
          counterparty_legal_phone_number: '0113 000 0002',
        },
      ]);
      expect(strip(await lake.readParquet(dimensionPrefix('dim_transaction', b1), 'transaction_id'))).toEqual([
        { transaction_id: 1, transaction_type: 'SALE', sales_order_id: 1, purchase_order_id: null },
        { transaction_id: 2, transaction_type: 'PURCHASE', sales_order_id: null, purchase_order_id: 1 },
      ]);
      expect(strip(await lake.readParquet(dimensionPrefix('dim_payment_type', b1), 'payment_type_id')).map((r) => r.payment_type_name)).toEqual([
        'SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND',
      ]);
      expect(strip(await lake.readParquet(dimensionPrefix('dim_design', b1), 'design_id'))).toEqual([
        { design_id: 1, design_name: 'Wooden', file_location: '/usr', file_name: 'wooden-20220717-npgz.json' },
      ]);
    });

    it('publishes the outputs in the catalog', async () => {
      expect(await lake.catalog.location('dim_staff')).toEqual({ prefix: dimensionPrefix('dim_staff', b1), batchId: b1, sqlHash: hashes.dim_staff });
      expect(await lake.catalog.partitions('fact_sales_order')).toEqual([{ prefix: factBatchPrefix('fact_sales_order', b1), batchId: b1, sqlHash: hashes.fact_sales_order }]);
      expect((await lake.catalog.location('current_staff'))?.prefix).toBe(currentPrefix('staff', b1));
    });
  });

  describe('second batch', () => {
    beforeAll(async () => {
      await lake.writeBatch(2, batchTwo);
      const results = await transformPending(lake.ctx);
      expect(results.map((r) => r.seq)).toEqual([2]);
    });

    it('appends the amended order as a new version and keeps every version queryable', async () => {
      expect(strip(await lake.readParquet(factBatchPrefix('fact_sales_order', b2), 'sales_order_id'))).toEqual([
        {
          sales_order_id: 1, created_date: '2022-11-03', created_time: '14:20:49.962', last_updated_date: '2022-11-05', last_updated_time: '09:15:00.500',
          sales_staff_id: 1, counterparty_id: 1, units_sold: 120, unit_price: '2.50', currency_id: 1, design_id: 1,
          agreed_payment_date: '2022-11-07', agreed_delivery_date: '2022-11-12', agreed_delivery_location_id: 1,
        },
      ]);
      const all = await lake.engine.query(
        'SELECT sales_order_id, units_sold, last_updated_time, _batch_id FROM fact_sales_order ORDER BY sales_order_id, last_updated_date, last_updated_time',
        await lakeBindings(lake.ctx),
      );
      expect(all).toEqual([
        { sales_order_id: 1, units_sold: 100, last_updated_time: '14:20:49.962', _batch_id: b1 },
        { sales_order_id: 1, units_sold: 120, last_updated_time: '09:15:00.500', _batch_id: b2 },
        { sales_order_id: 2, units_sold: 7, last_updated_time: '10:00:00.000', _batch_id: b1 },
      ]);
    });

    it('folds a version read twice into one fact row and one current row', async () => {
      const facts = strip(await lake.readParquet(factBatchPrefix('fact_payment', b2), 'payment_id'));
      expect(facts).toEqual([expect.objectContaining({ payment_id: 1, paid: true, last_updated_date: '2022-11-05', last_updated_time: '12:00:00.000' })]);
      const current = await lake.readParquet(currentPrefix('payment', b2), 'payment_id');
      expect(current).toEqual([expect.objectContaining({ payment_id: 1, paid: true, _batch_id: b2 })]);
    });

    it('merges the current state: latest version wins, untouched rows keep their batch', async () => {
      const current = await lake.readParquet(currentPrefix('sales_order', b2), 'sales_order_id');
      expect(current.map((r) => [r.sales_order_id, r.units_sold, r.last_updated, r._batch_id])).toEqual([
        [1, 120, '2022-11-05 09:15:00.5', b2],
        [2, 7, '2022-11-04 10:00:00', b1],
      ]);
    });

    it('keeps the location of a current table the batch did not touch', async () => {
      const manifest = await readTransformManifest(lake.processed, 2);
      expect(manifest.current.address).toBe(currentPrefix('address', b1));
      expect(manifest.current.department).toBe(currentPrefix('department', b2));
      expect(manifest.currentOutputs.address.prefix).toBe(currentPrefix('address', b1));
      expect((await lake.catalog.location('current_address'))?.prefix).toBe(currentPrefix('address', b1));
    });

    it('refreshes dim_staff from the department move', async () => {
      const staff = strip(await lake.readParquet(dimensionPrefix('dim_staff', b2), 'staff_id'));
      expect(staff.map((r) => [r.staff_id, r.department_name, r.location])).toEqual([
        [1, 'Sales', 'Manchester'],
        [2, 'Purchasing', 'Leeds'],
      ]);
      expect((await lake.catalog.location('dim_staff'))?.prefix).toBe(dimensionPrefix('dim_staff', b2));
    });

    it('writes beside each rebuilt dimension only its rows that changed, and carries untouched dimensions forward', async () => {
      const manifest = await readTransformManifest(lake.processed, 2);
      // Staff 1's department moved; staff 2 is as it was.
      expect(manifest.star.dim_staff.changes?.rows).toBe(1);
      const changed = strip(await lake.readParquet(manifest.star.dim_staff.changes!.prefix, 'staff_id'));
      expect(changed.map((r) => r.staff_id)).toEqual([1]);
      // No design row changed in batch 2: dim_design is batch 1's, not rebuilt.
      expect(manifest.star.dim_design).toMatchObject({ prefix: dimensionPrefix('dim_design', b1), builtBy: b1 });
    });

    it('extends dim_date to the amended delivery date', async () => {
      const dates = (await lake.readParquet(dimensionPrefix('dim_date', b2), 'date_id')).map((r) => r.date_id);
      expect(dates[0]).toBe('2022-11-03');
      expect(dates.at(-1)).toBe('2022-11-12');
      expect(dates).toHaveLength(10);
    });

    it("writes dim_date's change set as exactly the dates its calendar gained (computed beside the rebuild, every column type compared)", async () => {
      const manifest = await readTransformManifest(lake.processed, 2);
      const before = new Set((await lake.readParquet(dimensionPrefix('dim_date', b1), 'date_id')).map((r) => String(r.date_id)));
      const after = (await lake.readParquet(dimensionPrefix('dim_date', b2), 'date_id')).map((r) => String(r.date_id));
      const gained = after.filter((d) => !before.has(d));
      expect(gained.length).toBeGreaterThan(0);
      const changed = await lake.readParquet(manifest.star.dim_date.changes!.prefix, 'date_id');
      expect(changed.map((r) => String(r.date_id))).toEqual(gained);
      // Each changed row is the rebuilt dimension's row, value for value.
      const rebuilt = strip(await lake.readParquet(dimensionPrefix('dim_date', b2), 'date_id')).filter((r) => gained.includes(String(r.date_id)));
      expect(strip(changed)).toEqual(rebuilt);
    });

    it('re-running a batch whose manifest is missing rewrites the same outputs and publishes once', async () => {
      const before = await readTransformManifest(lake.processed, 2);
      const rowsBefore = await lake.readParquet(factBatchPrefix('fact_sales_order', b2), 'sales_order_id');
      const dimBefore = await lake.readParquet(dimensionPrefix('dim_staff', b2), 'staff_id');
      await rm(lake.processed.pathOf(transformManifestKey(2)));

      const results = await transformPending(lake.ctx);
      expect(results.map((r) => r.seq)).toEqual([2]);
      const after = await readTransformManifest(lake.processed, 2);
      const shape = (m: typeof before) => ({
        current: m.current,
        star: Object.fromEntries(Object.entries(m.star).map(([k, o]) => [k, { prefix: o.prefix, files: o.files, rows: o.rows, sqlHash: o.sqlHash }])),
      });
      expect(shape(after)).toEqual(shape(before));
      expect(await lake.readParquet(factBatchPrefix('fact_sales_order', b2), 'sales_order_id')).toEqual(rowsBefore);
      expect(await lake.readParquet(dimensionPrefix('dim_staff', b2), 'staff_id')).toEqual(dimBefore);
      expect((await lake.catalog.partitions('fact_sales_order')).map((p) => p.batchId)).toEqual([b1, b2]);
    });
  });
});

describe('transformPending ordering', () => {
  let lake: RawLake;
  beforeEach(async () => {
    lake = await RawLake.create();
  });
  afterEach(async () => lake.close());

  it('does not transform batch N before batch N-1 exists, then catches up in order', async () => {
    await lake.writeBatch(2, batchTwo);
    expect(await transformPending(lake.ctx)).toEqual([]);
    expect(await lake.processed.exists(transformManifestKey(2))).toBe(false);

    await lake.writeBatch(1, batchOne);
    const results = await transformPending(lake.ctx);
    expect(results.map((r) => r.seq)).toEqual([1, 2]);
  });

  it("finds a transform manifest deleted below the newest at a process's first plan, and transforms that batch again", async () => {
    await lake.writeBatch(1, batchOne);
    await lake.writeBatch(2, batchTwo);
    expect((await transformPending(lake.ctx)).map((r) => r.seq)).toEqual([1, 2]);
    await lake.writeBatch(3, batchTwo);
    expect((await transformPending(lake.ctx)).map((r) => r.seq)).toEqual([3]);
    const before = await readTransformManifest(lake.processed, 2);
    await rm(lake.processed.pathOf(transformManifestKey(2)));
    // This process plans from the newest manifest it saw (3): nothing is pending for it.
    expect(await transformPending(lake.ctx)).toEqual([]);
    // A new process (every module loaded again, the same lake folder opened) lists both logs whole at its first plan.
    let again: Awaited<ReturnType<typeof transformPending>> = [];
    await jest.isolateModulesAsync(async () => {
      const { openFolderPipeline } = jest.requireActual<{ openFolderPipeline: OpenFolderPipeline }>('../../../functions/local/folder-pipeline');
      const { transformPending: freshTransform } = jest.requireActual<{ transformPending: typeof transformPending }>('../../../functions/core/transform/transform');
      const pipeline = await openFolderPipeline({ lake: lake.dir, now: () => new Date('2025-01-01T00:00:00.000Z') });
      try {
        again = await freshTransform(pipeline.ctx);
      } finally {
        await pipeline.close();
      }
    });
    expect(again.map((r) => r.seq)).toEqual([2]);
    const outputs = (m: typeof before) => Object.fromEntries(Object.entries(m.star).map(([k, o]) => [k, { prefix: o.prefix, files: o.files, rows: o.rows, sqlHash: o.sqlHash }]));
    expect(outputs(await readTransformManifest(lake.processed, 2))).toEqual(outputs(before));
  });

  it('stops at a failing batch and leaves later batches waiting', async () => {
    await lake.writeBatch(1, batchOne);
    await lake.writeBatch(2, batchTwo);
    await lake.writeBatch(3, batchTwo);
    // Damage batch 2's sales order file: its transform fails, batch 3 must wait.
    await lake.ingestion.put(rawKey('sales_order', lake.batchId(2)), 'not gzip');
    await expect(transformPending(lake.ctx)).rejects.toThrow(/batch 0000000002-.*failed/);
    expect(await lake.processed.exists(transformManifestKey(1))).toBe(true);
    expect(await lake.processed.exists(transformManifestKey(2))).toBe(false);
    expect(await lake.processed.exists(transformManifestKey(3))).toBe(false);
  });
});
