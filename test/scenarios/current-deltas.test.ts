/**
 * The current state kept as a compacted base plus deltas (transform/current-compaction.ts), proven
 * against the audit oracle and `totes verify`: with a policy that writes deltas even for small
 * tables and compacts every third change, every reader of the current state — the dimensions, the
 * deletion check, `totes verify` — sees exactly what one compacted table would show, through deltas,
 * through a compaction, and through a compaction that the age of the deltas forces alone; and
 * dim_transaction, maintained by key from the transaction delta, equals a whole rebuild.
 */
import { listTransformSeqs, readTransformManifest } from '../../functions/core/lake/manifest-log';
import { currentPrefix } from '../../functions/core/lake/lake-layout';
import { dimensionBindings } from '../../functions/core/transform/dimension-by-key';
import { lakeBindings } from '../../functions/core/transform/lake-bindings';
import { loadSqlFiles } from '../../functions/core/transform/sql-files';
import { NOW, REPO_ROOT, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(90_000);
let s: Scenario;

/** Deltas for every table that changes; the third change (two deltas kept) compacts. */
const POLICY = { compactBelowRows: 0, maxDeltas: 2, maxDeltaFraction: Number.POSITIVE_INFINITY, maxDeltaAgeMs: 60 * 60_000 };

beforeAll(async () => {
  s = await openScenario('deltas', { compaction: POLICY });
  await s.cycle();
});
afterAll(async () => s?.close());

async function lastManifest() {
  const seq = (await listTransformSeqs(s.ctx.processed)).at(-1)!;
  return readTransformManifest(s.ctx.processed, seq);
}

it('writes a change as a delta beside the base, and readers see base + delta as the current state', async () => {
  const before = await lastManifest();
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 5, last_updated = ${NOW} WHERE sales_order_id IN (1, 2, 3)`);
  await s.sql(`INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
               SELECT ${NOW}, ${NOW}, design_id, staff_id, counterparty_id, 7, 1.25, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id FROM sales_order WHERE sales_order_id = 1`);
  await s.cycle();
  const m = await lastManifest();
  expect(m.current.sales_order).toBe(before.current.sales_order); // the base stays
  expect(m.currentDeltas?.sales_order?.map((d) => d.prefix)).toEqual([currentPrefix('sales_order', m.batchId)]);
  expect(m.currentDeltas?.sales_order?.[0].rows).toBe(4);
  expect(await s.check()).toEqual([]);
});

it('rebuilds dimensions from a current state in deltas (department move, address change)', async () => {
  const staff = (await s.sql<{ staff_id: number; department_id: number }>(`SELECT staff_id, department_id FROM staff ORDER BY staff_id LIMIT 1`))[0];
  await s.sql(`UPDATE staff SET department_id = $2, last_updated = ${NOW} WHERE staff_id = $1`, [staff.staff_id, staff.department_id === 1 ? 2 : 1]);
  await s.sql(`UPDATE department SET location = 'Moved', last_updated = ${NOW} WHERE department_id = 2`);
  const cp = (await s.sql<{ legal_address_id: number }>(`SELECT legal_address_id FROM counterparty ORDER BY counterparty_id LIMIT 1`))[0];
  await s.sql(`UPDATE address SET city = 'Deltatown', last_updated = ${NOW} WHERE address_id = $1`, [cp.legal_address_id]);
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id = 2`);
  await s.cycle();
  const m = await lastManifest();
  expect(m.currentDeltas?.staff).toHaveLength(1);
  expect(m.currentDeltas?.sales_order).toHaveLength(2);
  expect(await s.check()).toEqual([]);
});

it('compacts base, deltas and batch into a new base on the third change, and publishes it', async () => {
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id IN (2, 4)`);
  await s.cycle();
  const m = await lastManifest();
  expect(m.current.sales_order).toBe(currentPrefix('sales_order', m.batchId));
  expect(m.currentDeltas?.sales_order).toBeUndefined();
  expect((await s.ctx.catalog.location('current_sales_order'))?.prefix).toBe(m.current.sales_order);
  expect(m.currentDeltas?.staff).toHaveLength(1); // staff did not change: its delta stays
  expect(await s.check()).toEqual([]);
});

it('finds a deletion when the deleted row is only in a delta', async () => {
  const [row] = await s.sql<{ id: number }>(
    `INSERT INTO design (created_at, last_updated, design_name, file_location, file_name)
     VALUES (${NOW}, ${NOW}, 'short-lived', '/tmp', 'short.jpg') RETURNING design_id AS id`,
  );
  await s.cycle();
  expect((await lastManifest()).currentDeltas?.design?.length).toBeGreaterThan(0);
  await s.sql(`DELETE FROM design WHERE design_id = $1`, [row.id]);
  await s.cycle();
  expect(s.log.text('warn')).toMatch(new RegExp(`design_id ${row.id}\\)`));
  expect(await s.check()).toEqual([]);
});

it('compacts deltas older than the age limit even when their table did not change', async () => {
  const waiting = Object.keys((await lastManifest()).currentDeltas ?? {});
  expect(waiting.length).toBeGreaterThan(0);
  // Only a counterparty changes, in a batch past the deltas' age limit (0 here, as if an hour had passed).
  const aged = await s.context({ compaction: { ...POLICY, maxDeltaAgeMs: 0 } });
  await s.sql(`UPDATE counterparty SET commercial_contact = 'Aged', last_updated = ${NOW} WHERE counterparty_id = 1`);
  await new Promise((r) => setTimeout(r, 1100)); // batch ids stamp whole seconds
  await s.cycle(aged);
  const after = await lastManifest();
  expect(Object.keys(after.currentDeltas ?? {})).toEqual(['counterparty']); // its change is a fresh delta
  for (const name of waiting) expect(after.current[name as keyof typeof after.current]).toBe(currentPrefix(name, after.batchId));
  expect(await s.check()).toEqual([]);
});

describe('dim_transaction maintained by key (star contract byKey, transform/dimension-by-key.ts)', () => {
  /** New sales orders (copies of order 1) for new or re-linked transactions to point at. */
  async function newSalesOrders(count: number): Promise<number[]> {
    const rows = await s.sql<{ id: number }>(
      `INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
       SELECT ${NOW}, ${NOW}, design_id, staff_id, counterparty_id, 3, 2.50, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
       FROM sales_order, generate_series(1, $1) WHERE sales_order_id = 1 RETURNING sales_order_id AS id`,
      [count],
    );
    return rows.map((r) => r.id);
  }

  /** Two new transactions, one re-linked to another order, one touched with no value changed: 4 keys. */
  async function changeTransactions(): Promise<void> {
    const [a, b, c] = await newSalesOrders(3);
    await s.sql(`INSERT INTO "transaction" (created_at, last_updated, transaction_type, sales_order_id) VALUES (${NOW}, ${NOW}, 'SALE', $1), (${NOW}, ${NOW}, 'SALE', $2)`, [a, b]);
    const [relinked, touched] = await s.sql<{ id: number }>(`SELECT transaction_id AS id FROM "transaction" WHERE transaction_type = 'SALE' ORDER BY transaction_id LIMIT 2`);
    await s.sql(`UPDATE "transaction" SET sales_order_id = $2, last_updated = ${NOW} WHERE transaction_id = $1`, [relinked.id, c]);
    await s.sql(`UPDATE "transaction" SET last_updated = ${NOW} WHERE transaction_id = $1`, [touched.id]);
  }

  /** The batch's dim_transaction equals the SQL file run over the whole current state, lineage included. */
  async function expectWholeRebuildEquality(m: Awaited<ReturnType<typeof lastManifest>>): Promise<void> {
    const file = (await loadSqlFiles(REPO_ROOT)).find((f) => f.table.name === 'dim_transaction')!;
    const current = { transaction: [m.current.transaction, ...(m.currentDeltas?.transaction ?? []).map((d) => d.prefix)] };
    const order = ' ORDER BY transaction_id';
    const whole = await s.ctx.engine.query(`SELECT * FROM (${file.sql.replace(/--.*$/gm, '')}) AS whole${order}`, { batch: {}, current, star: {} });
    const columns = 'transaction_id, transaction_type, sales_order_id, purchase_order_id';
    // As the manifest lists it (base + deltas, merged), and as `totes query` reads it from the catalog.
    const asListed = dimensionBindings('dim_transaction', m.star.dim_transaction);
    expect(await s.ctx.engine.query(`SELECT ${columns} FROM dim_transaction${order}`, asListed)).toEqual(whole);
    expect(await s.ctx.engine.query(`SELECT ${columns} FROM dim_transaction${order}`, await lakeBindings(s.ctx))).toEqual(whole);
    // Every row is the file's result; a row carries the batch that wrote it: this batch wrote its change set.
    const lineage = await s.ctx.engine.query(`SELECT _sql_hash, count(*) AS n FROM dim_transaction WHERE _batch_id = '${m.batchId}' GROUP BY _sql_hash`, asListed);
    expect(lineage.map((r) => ({ ...r, n: Number(r.n) }))).toEqual([{ _sql_hash: file.sqlHash, n: m.star.dim_transaction.deltas ? m.star.dim_transaction.changes!.rows : whole.length }]);
    expect(await s.ctx.engine.query('SELECT DISTINCT _sql_hash FROM dim_transaction', asListed)).toEqual([{ _sql_hash: file.sqlHash }]);
    expect(m.star.dim_transaction).toMatchObject({ origin: file.origin, sqlHash: file.sqlHash, rows: whole.length });
  }

  it('adds only the keys of the transaction delta as a change set beside the base, twice in a row, equal to a whole rebuild', async () => {
    const base = (await lastManifest()).star.dim_transaction.prefix;
    for (const round of [1, 2]) {
      const before = await lastManifest();
      await changeTransactions();
      await s.cycle();
      const m = await lastManifest();
      const delta = m.currentDeltas?.transaction?.at(-1);
      expect({ round, delta: delta?.prefix, rows: delta?.rows }).toEqual({ round, delta: currentPrefix('transaction', m.batchId), rows: 4 });
      // By key, the change set is every key of the delta, the touched one included; a whole rebuild's
      // EXCEPT would leave that one out (3 rows).
      expect({ round, changes: m.star.dim_transaction.changes?.rows }).toEqual({ round, changes: 4 });
      expect(m.star.dim_transaction.builtBy).toBeUndefined();
      // The change set is built beside the transaction delta, from the same SELECT over the batch
      // (dimension-by-key.ts planByKeyBesideDelta), not after it: where the calendar did not grow,
      // the batch is two levels (the deltas, the change set and the fact partition; the tests), three before.
      if (m.star.dim_date.builtBy) expect({ round, criticalPath: m.engineQueries?.criticalPath }).toEqual({ round, criticalPath: 2 });
      expect(m.star.dim_transaction.rows).toBe(before.star.dim_transaction.rows + 2);
      // Base + deltas: the base stays, this batch's change set is its newest delta; nothing else written.
      expect({ round, base: m.star.dim_transaction.prefix, deltas: m.star.dim_transaction.deltas?.map((d) => d.prefix) }).toEqual({
        round,
        base,
        deltas: [...(before.star.dim_transaction.deltas ?? []).map((d) => d.prefix), m.star.dim_transaction.changes!.prefix],
      });
      await expectWholeRebuildEquality(m);
      expect(await s.check()).toEqual([]);
    }
  });

  it('rebuilds whole when the transaction state compacts (no record of just this batch)', async () => {
    await changeTransactions();
    await s.cycle();
    const m = await lastManifest();
    expect(m.current.transaction).toBe(currentPrefix('transaction', m.batchId));
    expect(m.star.dim_transaction.changes?.rows).toBe(3); // EXCEPT: the touched transaction did not change
    expect(m.star.dim_transaction.deltas).toBeUndefined(); // a new base: the deltas are folded in
    expect(m.star.dim_transaction.prefix).toBe(`star/dim_transaction/${m.batchId}/`);
    await expectWholeRebuildEquality(m);
    expect(await s.check()).toEqual([]);
  });
});
