/**
 * A burst of totesys activity, as if `minutes` minutes of business had passed: what the pipeline
 * must pick up on its next run. Volume is proportional to `minutes` (see RATES_PER_MINUTE).
 *
 * Every write stamps last_updated with the database clock (`now()` in UTC, as timestamp(3)), so the
 * burst looks exactly like an application writing live; one burst is one transaction, so all its
 * rows share one stamp — ties on last_updated that the extract cursor must handle. An update never
 * moves last_updated backwards: if a row is already stamped later than the clock (a seed with a
 * future asOf), it moves 1 ms past its old value instead.
 *
 * Deterministic given `seed` and the database's current content: the random stream is keyed by the
 * seed and by the current highest order and payment ids, so repeated bursts differ from each other
 * but replaying the same sequence on the same start state gives the same changes.
 */
import type { Client } from 'pg';
import { silentLog, type Log } from '../core/ports/log';
import { SeededRandom } from './seeded-random';
import { designFileName } from './seed-rows';
import { DESIGN_WORDS, FILE_FOLDERS, OFFICE_LOCATIONS, STREET_WORDS } from './seed-names';
import { inTotesysTransaction } from './totesys-schema';

export interface ActivityOptions {
  /** Minutes of business to simulate; default 5 (one pipeline interval). */
  readonly minutes?: number;
  /** Default 1. */
  readonly seed?: number;
  readonly log?: Log;
}

export interface ActivitySummary {
  readonly newSalesOrders: number;
  readonly newPurchaseOrders: number;
  /** One per new order. */
  readonly newTransactions: number;
  /** One per new transaction, created unpaid. */
  readonly newPayments: number;
  readonly amendedSalesOrders: number;
  readonly paymentsPaid: number;
  readonly departmentMoves: number;
  readonly addressEdits: number;
  readonly newDesigns: number;
  /** The database clock the burst was stamped with ('YYYY-MM-DD HH:MM:SS.mmm', UTC). */
  readonly stampedAt: string;
  readonly elapsedMs: number;
}

/** Mean changes per simulated minute: a busier business than the seed's history, so a short demo shows change. */
export const RATES_PER_MINUTE = {
  salesOrders: 2,
  purchaseOrders: 1,
  amendments: 0.5,
  paymentsPaid: 2,
  newDesigns: 0.02,
  addressEdits: 0.02,
  departmentMoves: 0.01,
} as const;

/** The database clock, in UTC, at totesys precision. Constant within the burst's transaction. */
const NOW = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;
/** The stamp for an update: the clock, but never at or before the row's current last_updated. */
const FORWARD = `GREATEST(${NOW}, last_updated + interval '1 millisecond')`;

const DAY = 86_400_000;

export async function simulateActivity(url: string, options: ActivityOptions = {}): Promise<ActivitySummary> {
  const started = Date.now();
  const minutes = options.minutes ?? 5;
  const seed = options.seed ?? 1;
  const log = options.log ?? silentLog;
  if (!(minutes >= 0) || !Number.isFinite(minutes)) throw new Error(`simulateActivity: minutes must be ≥ 0, got ${minutes}`);

  const written = await inTotesysTransaction(url, async (client): Promise<ActivitySummary> => {
    const state = await client.query<Record<string, string | null>>(
      `SELECT ${NOW}::text AS now, (now() AT TIME ZONE 'UTC')::date::text AS today,
              (SELECT max(sales_order_id) FROM sales_order)::text AS sales,
              (SELECT max(payment_id) FROM payment)::text AS payments,
              (SELECT max(address_id) FROM address)::text AS addresses,
              (SELECT max(counterparty_id) FROM counterparty)::text AS counterparties,
              (SELECT max(staff_id) FROM staff)::text AS staff,
              (SELECT max(design_id) FROM design)::text AS designs,
              (SELECT max(currency_id) FROM currency)::text AS currencies,
              (SELECT max(department_id) FROM department)::text AS departments`,
    ).catch((error: Error) => {
      throw new Error(`simulateActivity: cannot read totesys (${error.message}). Seed it first (seedTotesys).`, { cause: error });
    });
    const s = state.rows[0];
    const max = (key: string): number => Number(s[key] ?? 0);
    for (const key of ['addresses', 'counterparties', 'staff', 'designs', 'currencies', 'departments']) {
      if (max(key) === 0) throw new Error(`simulateActivity: totesys has no ${key}; seed it first (seedTotesys).`);
    }
    const random = new SeededRandom(seed, `simulate:${max('sales')}:${max('payments')}`);
    const today = Date.parse(`${s.today}T00:00:00Z`);
    const dayFromToday = (min: number, maxDays: number): string => new Date(today + random.int(min, maxDays) * DAY).toISOString().slice(0, 10);
    const count = (rate: number): number => random.count(rate * minutes);

    // Payments flip first, so this burst's own new payments stay unpaid. The oldest unpaid are paid first.
    const paidWanted = count(RATES_PER_MINUTE.paymentsPaid);
    let paymentsPaid = 0;
    if (paidWanted > 0) {
      const unpaid = await client.query<{ id: number }>(
        'SELECT payment_id AS id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT $1',
        [paidWanted * 4],
      );
      const ids = pickDistinct(random, unpaid.rows.map((r) => r.id), paidWanted);
      const result = await client.query(
        `UPDATE payment SET paid = true, last_updated = ${FORWARD} WHERE payment_id = ANY($1::int[]) AND NOT paid`,
        [ids],
      );
      paymentsPaid = result.rowCount ?? 0;
    }

    // Amendments touch orders that existed before the burst: new units, price, sometimes new dates.
    const amendWanted = max('sales') > 0 ? count(RATES_PER_MINUTE.amendments) : 0;
    let amendedSalesOrders = 0;
    if (amendWanted > 0) {
      const ids = [...new Set(Array.from({ length: amendWanted }, () => random.int(1, max('sales'))))];
      const units = ids.map(() => String(random.int(1000, 100000)));
      const prices = ids.map(() => `${random.int(2, 3)}.${String(random.int(0, 99)).padStart(2, '0')}`);
      const delivery = ids.map(() => (random.chance(0.5) ? dayFromToday(2, 30) : null));
      const payment = ids.map(() => (random.chance(0.3) ? dayFromToday(5, 45) : null));
      const result = await client.query(
        `UPDATE sales_order so SET units_sold = u.units, unit_price = u.price,
                agreed_delivery_date = COALESCE(u.delivery, so.agreed_delivery_date),
                agreed_payment_date = COALESCE(u.payment, so.agreed_payment_date),
                last_updated = GREATEST(${NOW}, so.last_updated + interval '1 millisecond')
           FROM unnest($1::int[], $2::int[], $3::numeric[], $4::text[], $5::text[]) AS u(id, units, price, delivery, payment)
          WHERE so.sales_order_id = u.id`,
        [ids, units, prices, delivery, payment],
      );
      amendedSalesOrders = result.rowCount ?? 0;
    }

    // New designs first, so new orders may use them.
    const newDesigns = count(RATES_PER_MINUTE.newDesigns);
    if (newDesigns > 0) {
      const names = Array.from({ length: newDesigns }, () => random.pick(DESIGN_WORDS));
      const folders = names.map(() => random.pick(FILE_FOLDERS));
      const files = names.map((name) => designFileName(name, today, random));
      await client.query(
        `INSERT INTO design (design_name, file_location, file_name, created_at, last_updated)
         SELECT n, f, fn, ${NOW}, ${NOW} FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(n, f, fn, i) ORDER BY i`,
        [names, folders, files],
      );
    }
    const designs = max('designs') + newDesigns;

    const newSalesOrders = count(RATES_PER_MINUTE.salesOrders);
    if (newSalesOrders > 0) {
      const n = newSalesOrders;
      const inserted = await client.query<{ id: number }>(
        `INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price,
                                  currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
         SELECT ${NOW}, ${NOW}, d, st, cp, un, pr, cu, dd, pd, loc
           FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::numeric[], $6::int[], $7::text[], $8::text[], $9::int[])
                WITH ORDINALITY AS u(d, st, cp, un, pr, cu, dd, pd, loc, i)
          ORDER BY i
         RETURNING sales_order_id AS id`,
        [
          ints(n, () => random.int(1, designs)),
          ints(n, () => random.int(1, max('staff'))),
          ints(n, () => random.int(1, max('counterparties'))),
          ints(n, () => random.int(1000, 100000)),
          Array.from({ length: n }, () => `${random.int(2, 3)}.${String(random.int(0, 99)).padStart(2, '0')}`),
          ints(n, () => random.int(1, max('currencies'))),
          Array.from({ length: n }, () => dayFromToday(2, 30)),
          Array.from({ length: n }, () => dayFromToday(1, 45)),
          ints(n, () => random.int(1, max('addresses'))),
        ],
      );
      await addTransactionsAndPayments(client, random, 'SALE', inserted.rows.map((r) => r.id));
    }

    const newPurchaseOrders = count(RATES_PER_MINUTE.purchaseOrders);
    if (newPurchaseOrders > 0) {
      const n = newPurchaseOrders;
      const codeLetters = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
      const inserted = await client.query<{ id: number }>(
        `INSERT INTO purchase_order (created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,
                                     currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
         SELECT ${NOW}, ${NOW}, st, cp, code, q, pr, cu, dd, pd, loc
           FROM unnest($1::int[], $2::int[], $3::text[], $4::int[], $5::numeric[], $6::int[], $7::text[], $8::text[], $9::int[])
                WITH ORDINALITY AS u(st, cp, code, q, pr, cu, dd, pd, loc, i)
          ORDER BY i
         RETURNING purchase_order_id AS id`,
        [
          ints(n, () => random.int(1, max('staff'))),
          ints(n, () => random.int(1, max('counterparties'))),
          Array.from({ length: n }, () => Array.from({ length: 7 }, () => codeLetters[random.int(0, codeLetters.length - 1)]).join('')),
          ints(n, () => random.int(1, 1000)),
          Array.from({ length: n }, () => `${random.int(1, 1000)}.${String(random.int(0, 99)).padStart(2, '0')}`),
          ints(n, () => random.int(1, max('currencies'))),
          Array.from({ length: n }, () => dayFromToday(2, 30)),
          Array.from({ length: n }, () => dayFromToday(1, 60)),
          ints(n, () => random.int(1, max('addresses'))),
        ],
      );
      await addTransactionsAndPayments(client, random, 'PURCHASE', inserted.rows.map((r) => r.id));
    }

    // The odd reference-data edit: a department moves office (or loses its recorded location).
    const departmentMoves = count(RATES_PER_MINUTE.departmentMoves);
    for (let i = 0; i < departmentMoves; i++) {
      await client.query(
        `UPDATE department SET location = $2, last_updated = ${FORWARD} WHERE department_id = $1`,
        [random.int(1, max('departments')), random.chance(0.85) ? random.pick(OFFICE_LOCATIONS) : null],
      );
    }
    // …or an address gets a new phone number and second line (possibly none).
    const addressEdits = count(RATES_PER_MINUTE.addressEdits);
    for (let i = 0; i < addressEdits; i++) {
      await client.query(
        `UPDATE address SET phone = $2, address_line_2 = $3, last_updated = ${FORWARD} WHERE address_id = $1`,
        [
          random.int(1, max('addresses')),
          `${random.int(1000, 9999)} ${random.int(100000, 999999)}`,
          random.chance(0.5) ? `${random.pick(STREET_WORDS)} House` : null,
        ],
      );
    }

    return {
      newSalesOrders,
      newPurchaseOrders,
      newTransactions: newSalesOrders + newPurchaseOrders,
      newPayments: newSalesOrders + newPurchaseOrders,
      amendedSalesOrders,
      paymentsPaid,
      departmentMoves,
      addressEdits,
      newDesigns,
      stampedAt: s.now ?? '',
      elapsedMs: 0,
    };
  });
  const summary: ActivitySummary = { ...written, elapsedMs: Date.now() - started }; // the commit included
  log.info('simulated totesys activity', { minutes, seed, ...summary });
  return summary;
}

const ints = (n: number, next: () => number): number[] => Array.from({ length: n }, next);

/** Up to `n` distinct items, chosen at random but deterministically. */
function pickDistinct<T>(random: SeededRandom, items: readonly T[], n: number): T[] {
  const pool = [...items];
  const chosen: T[] = [];
  while (chosen.length < n && pool.length > 0) chosen.push(pool.splice(random.int(0, pool.length - 1), 1)[0]);
  return chosen;
}

/** One transaction per new order, and one unpaid payment per transaction for the order's amount. */
async function addTransactionsAndPayments(client: Client, random: SeededRandom, kind: 'SALE' | 'PURCHASE', orderIds: number[]): Promise<void> {
  const ids = [...orderIds].sort((a, b) => a - b);
  const orderColumn = kind === 'SALE' ? 'sales_order_id' : 'purchase_order_id';
  await client.query(
    `INSERT INTO "transaction" (transaction_type, ${orderColumn}, created_at, last_updated)
     SELECT $1::"TransactionType", id, ${NOW}, ${NOW} FROM unnest($2::int[]) AS u(id) ORDER BY id`,
    [kind, ids],
  );
  const refund = ids.map(() => random.chance(0.03));
  const paymentTypes = refund.map((r) => (kind === 'SALE' ? (r ? 2 : 1) : r ? 4 : 3));
  const accounts = ids.map(() => random.int(10_000_000, 99_999_999));
  const counterpartyAccounts = ids.map(() => random.int(10_000_000, 99_999_999));
  const order = kind === 'SALE'
    ? { table: 'sales_order', key: 'sales_order_id', amount: 'o.units_sold * o.unit_price' }
    : { table: 'purchase_order', key: 'purchase_order_id', amount: 'o.item_quantity * o.item_unit_price' };
  await client.query(
    `INSERT INTO payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id,
                          payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
     SELECT ${NOW}, ${NOW}, t.transaction_id, o.counterparty_id, ${order.amount}, o.currency_id,
            u.payment_type, false, o.agreed_payment_date, u.company_ac, u.counterparty_ac
       FROM unnest($1::int[], $2::int[], $3::int[], $4::int[]) AS u(id, payment_type, company_ac, counterparty_ac)
       JOIN "transaction" t ON t.${orderColumn} = u.id
       JOIN ${order.table} o ON o.${order.key} = u.id
      ORDER BY t.transaction_id`,
    [ids, paymentTypes, accounts, counterpartyAccounts],
  );
}
