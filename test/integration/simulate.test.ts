import { Client } from 'pg';
import { SOURCE_TABLES } from '../../functions/core/contract/source-tables';
import { seedTotesys } from '../../functions/totesys/seed';
import { simulateActivity } from '../../functions/totesys/simulate';
import { testDatabase, type TestDatabase } from '../support/test-postgres';

/** key → last_updated (text) of every row of every totesys table. */
async function versions(url: string): Promise<Map<string, string>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const out = new Map<string, string>();
    for (const table of SOURCE_TABLES) {
      const rows = await client.query<{ id: number; lu: string }>(`SELECT "${table.primaryKey}" AS id, last_updated::text AS lu FROM "${table.name}"`);
      for (const row of rows.rows) out.set(`${table.name}:${row.id}`, row.lu);
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Every row with its audit timestamps left out: what a burst changed, independent of the clock. */
async function contentWithoutClock(url: string): Promise<Record<string, string[]>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const table of SOURCE_TABLES) {
      const columns = table.columns.filter((c) => c.name !== 'created_at' && c.name !== 'last_updated').map((c) => `"${c.name}"::text`);
      const rows = await client.query<{ r: string }>(`SELECT concat_ws('|', ${columns.join(', ')}) AS r FROM "${table.name}" ORDER BY "${table.primaryKey}"`);
      out[table.name] = rows.rows.map((r) => r.r);
    }
    return out;
  } finally {
    await client.end();
  }
}

describe('simulateActivity', () => {
  const asOf = new Date(Date.now() - 60_000);
  let a: TestDatabase;
  let b: TestDatabase;
  beforeAll(async () => {
    [a, b] = await Promise.all([testDatabase('simulate-a'), testDatabase('simulate-b')]);
    await seedTotesys(a.url, { seed: 3, scale: 0.1, asOf });
    await seedTotesys(b.url, { seed: 3, scale: 0.1, asOf });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('adds orders with their transactions and payments, amends orders and pays payments, only moving last_updated forward', async () => {
    const before = await versions(a.url);
    const summary = await simulateActivity(a.url, { minutes: 60, seed: 11 });
    const after = await versions(a.url);

    expect(summary.newSalesOrders).toBeGreaterThan(80);
    expect(summary.newPurchaseOrders).toBeGreaterThan(30);
    expect(summary.amendedSalesOrders).toBeGreaterThan(10);
    expect(summary.paymentsPaid).toBeGreaterThan(50);
    expect(summary.newPayments).toBe(summary.newSalesOrders + summary.newPurchaseOrders);

    for (const [key, old] of before) expect({ key, forward: after.get(key)! >= old }).toEqual({ key, forward: true });
    const changed = [...after].filter(([key, lu]) => before.get(key) !== lu);
    const count = (table: string): number => changed.filter(([key]) => key.startsWith(`${table}:`)).length;
    expect(count('sales_order')).toBe(summary.newSalesOrders + summary.amendedSalesOrders);
    expect(count('purchase_order')).toBe(summary.newPurchaseOrders);
    expect(count('transaction')).toBe(summary.newTransactions);
    expect(count('payment')).toBe(summary.newPayments + summary.paymentsPaid);
    // Everything the burst wrote carries the database clock of the burst.
    expect(new Set(changed.map(([, lu]) => lu))).toEqual(new Set([summary.stampedAt]));

    const client = new Client({ connectionString: a.url });
    await client.connect();
    try {
      const check = await client.query<Record<string, string>>(`
        SELECT (SELECT count(*) FROM sales_order so LEFT JOIN "transaction" t USING (sales_order_id) LEFT JOIN payment p USING (transaction_id)
                 WHERE p.payment_id IS NULL)::text AS orders_without_payment,
               (SELECT count(*) FROM payment p JOIN "transaction" t USING (transaction_id) JOIN sales_order so USING (sales_order_id)
                 WHERE p.created_at = $1::timestamp AND p.payment_amount <> so.units_sold * so.unit_price)::text AS wrong_amounts,
               (SELECT count(*) FROM payment WHERE created_at = $1::timestamp AND paid)::text AS new_paid`, [summary.stampedAt]);
      expect(check.rows[0]).toEqual({ orders_without_payment: '0', wrong_amounts: '0', new_paid: '0' });
    } finally {
      await client.end();
    }
  });

  it('makes the same changes given the same seed and starting content', async () => {
    // `a` has had one burst already; give `b` the same one, then one more burst each.
    await simulateActivity(b.url, { minutes: 60, seed: 11 });
    const [first, second] = await Promise.all([simulateActivity(a.url, { minutes: 5, seed: 2 }), simulateActivity(b.url, { minutes: 5, seed: 2 })]);
    const { stampedAt: _x, elapsedMs: _y, ...countsA } = first;
    const { stampedAt: _z, elapsedMs: _w, ...countsB } = second;
    expect(countsB).toEqual(countsA);
    expect(await contentWithoutClock(b.url)).toEqual(await contentWithoutClock(a.url));
  });

  it('moves last_updated forward even when rows are stamped later than the database clock', async () => {
    const future = await testDatabase('simulate-future');
    try {
      await seedTotesys(future.url, { seed: 5, scale: 0.05, asOf: new Date(Date.now() + 30 * 86_400_000) });
      const before = await versions(future.url);
      const summary = await simulateActivity(future.url, { minutes: 30, seed: 1 });
      expect(summary.paymentsPaid + summary.amendedSalesOrders).toBeGreaterThan(0);
      const after = await versions(future.url);
      for (const [key, old] of before) expect({ key, forward: after.get(key)! >= old }).toEqual({ key, forward: true });
    } finally {
      await future.close();
    }
  });
});
