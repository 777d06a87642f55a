/**
 * The current state kept as a compacted base plus deltas (transform/current-compaction.ts), proven
 * against the audit oracle and `totes verify`: with a policy that writes deltas even for small
 * tables and compacts every third change, every reader of the current state — the dimensions, the
 * deletion check, `totes verify` — sees exactly what one compacted table would show, through deltas,
 * through a compaction, and through a compaction that the age of the deltas forces alone.
 */
import { listTransformSeqs, readTransformManifest } from '../../functions/core/lake/manifest-log';
import { currentPrefix } from '../../functions/core/lake/lake-layout';
import { NOW, openScenario, type Scenario } from './scenario-harness';

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
