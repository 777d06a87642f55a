/**
 * A small dimension's change set, computed beside its rebuild from the same SELECT
 * (transform/transform.ts `writeDimensionChanges`, issue 14: a level fewer per batch on Athena),
 * holds exactly the rows a comparison of the written dimension with the version it replaces gives:
 * for dimensions rebuilt whole (dim_design, dim_location, dim_counterparty) and for dim_transaction,
 * declared by key but below the compaction policy's small base, so rebuilt whole every batch on a
 * small totesys. Proven with the default policy, against the audit oracle and `totes verify`.
 */
import { listTransformSeqs, readTransformManifest } from '../../functions/core/lake/manifest-log';
import type { TransformManifest } from '../../functions/core/lake/manifests';
import { DEFAULT_COMPACTION } from '../../functions/core/transform/current-compaction';
import { starTable, type StarTableName } from '../../functions/core/contract/star-tables';
import { NOW, openScenario, type Scenario } from './scenario-harness';

jest.setTimeout(90_000);
let s: Scenario;

/** A copy of sales order 1 stamped now (its created and last updated date: today). */
const NEW_ORDERS = `INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  SELECT ${NOW}, ${NOW}, design_id, staff_id, counterparty_id, 3, 2.50, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
  FROM sales_order, generate_series(1, $1) WHERE sales_order_id = 1 RETURNING sales_order_id AS id`;

beforeAll(async () => {
  s = await openScenario('small-dimension-changes');
  await s.cycle();
  // A first order of today, so that the calendar already holds today when the batch below runs
  // (a batch that grows it counts dim_date's rows first: a level more).
  await s.sql(NEW_ORDERS, [1]);
  await s.cycle();
});
afterAll(async () => s?.close());

async function lastManifest(): Promise<TransformManifest> {
  const seq = (await listTransformSeqs(s.ctx.processed)).at(-1)!;
  return readTransformManifest(s.ctx.processed, seq);
}

/** The rows of `table` this batch wrote that the version it replaced lacks, read from the written files. */
async function writtenDifference(table: StarTableName, now: TransformManifest, before: TransformManifest): Promise<string[]> {
  const columns = starTable(table).columns.map((c) => c.name).join(', ');
  const rows = await s.ctx.engine.query(`SELECT ${columns} FROM ${table} EXCEPT SELECT ${columns} FROM previous_${table}`, {
    batch: {},
    current: {},
    star: { [table]: [now.star[table].prefix] },
    previousStar: { [table]: [before.star[table].prefix] },
  });
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** The rows of a dimension's change set, as the load reads them. */
async function changeSet(table: StarTableName, m: TransformManifest): Promise<string[]> {
  const columns = starTable(table).columns.map((c) => c.name).join(', ');
  const rows = await s.ctx.engine.query(`SELECT ${columns} FROM ${table}`, { batch: {}, current: {}, star: { [table]: [m.star[table].changes!.prefix] } });
  return rows.map((r) => JSON.stringify(r)).sort();
}

it('writes each rebuilt small dimension’s change set beside it, equal to the difference of the written dimension and the one it replaces', async () => {
  const before = await lastManifest();
  expect(before.star.dim_transaction.rows).toBeLessThan(DEFAULT_COMPACTION.compactBelowRows);
  // Two new transactions, one re-linked to another order, one touched with no value changed; a new
  // design; an address edit (dim_location and dim_counterparty).
  const orders = await s.sql<{ id: number }>(NEW_ORDERS, [3]);
  const [a, b, c] = orders.map((o) => o.id);
  await s.sql(`INSERT INTO "transaction" (created_at, last_updated, transaction_type, sales_order_id) VALUES (${NOW}, ${NOW}, 'SALE', $1), (${NOW}, ${NOW}, 'SALE', $2)`, [a, b]);
  const [relinked, touched] = await s.sql<{ id: number }>(`SELECT transaction_id AS id FROM "transaction" WHERE transaction_type = 'SALE' ORDER BY transaction_id LIMIT 2`);
  await s.sql(`UPDATE "transaction" SET sales_order_id = $2, last_updated = ${NOW} WHERE transaction_id = $1`, [relinked.id, c]);
  await s.sql(`UPDATE "transaction" SET last_updated = ${NOW} WHERE transaction_id = $1`, [touched.id]);
  await s.sql(`INSERT INTO design (design_name, file_location, file_name, created_at, last_updated) VALUES ('Beside', '/designs', 'beside.json', ${NOW}, ${NOW})`);
  await s.sql(`UPDATE address SET city = 'Beside Town', last_updated = ${NOW} WHERE address_id = 1`);
  await s.cycle();

  const m = await lastManifest();
  // dim_transaction, small, was rebuilt whole (no deltas): its change set leaves out the touched
  // transaction, whose values did not change.
  expect(m.star.dim_transaction.deltas).toBeUndefined();
  expect(m.star.dim_transaction.prefix).toBe(`star/dim_transaction/${m.batchId}/`);
  expect(m.star.dim_transaction.changes?.rows).toBe(3);
  for (const table of ['dim_transaction', 'dim_design', 'dim_location', 'dim_counterparty'] as const) {
    const expected = await writtenDifference(table, m, before);
    expect({ table, rows: expected.length }).toEqual({ table, rows: m.star[table].changes!.rows });
    expect({ table, changes: await changeSet(table, m) }).toEqual({ table, changes: expected });
    expect(expected.length).toBeGreaterThan(0);
  }
  // Every change set went with its rebuild: the input check and current states, the star tables,
  // the tests. The calendar did not grow (dim_date carried after its count).
  expect(m.star.dim_date.builtBy).toBe(before.batchId);
  expect(m.engineQueries).toMatchObject({ criticalPath: 3 });
  expect(await s.check()).toEqual([]);
});
