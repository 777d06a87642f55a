/**
 * Fills a totesys database with a deterministic, realistic history, for local runs, tests and
 * benchmarks: the same (seed, scale, asOf) always produces identical rows.
 *
 * Shape (ARCHITECTURE.md, "The totesys we model"): 30 addresses, 20 counterparties, 3 currencies,
 * 8 departments, 20 staff, 4 payment types, 300 designs; 7000 × scale sales orders and 3000 × scale
 * purchase orders over the ~18 months before `asOf`, one transaction per order and one payment per
 * transaction. Rows are generated and written in chunks, so memory stays flat at any scale.
 *
 * Existing data: the schema is created when absent. If any totesys table already holds rows the
 * seed refuses (it would otherwise mix two histories) unless `reset: true`, which empties the 11
 * tables (TRUNCATE … RESTART IDENTITY) first. Everything happens in one transaction: a failed seed
 * leaves the database as it was.
 */
import type { Client } from 'pg';
import { SOURCE_TABLE_NAMES, type SourceTableName } from '../core/contract/source-tables';
import { silentLog, type Log } from '../core/ports/log';
import { quoteIdent } from '../core/sql/sql-text';
import { rowWriter, type Row, type WriteMethod } from './row-writer';
import { SeededRandom } from './seeded-random';
import {
  addressRows, counterpartyRows, currencyRows, departmentRows, designRows, ordersInTimeOrder,
  paymentTypeRows, seedShape, staffRows, transactionAndPayment,
} from './seed-rows';
import { applyTotesysSchema, inTotesysTransaction, resetTotesysSequences, totesysRowCounts } from './totesys-schema';

export interface SeedOptions {
  /** Multiplies the order tables (and so transactions and payments); default 1 (≈7000 sales orders). */
  readonly scale?: number;
  /** Default 1. */
  readonly seed?: number;
  /** The end of the generated history; default now. Pass it for reproducible rows. */
  readonly asOf?: Date;
  /** Empty the totesys tables first when they hold rows (default false: refuse). */
  readonly reset?: boolean;
  /** Force a write method; default `copy` on a PostgreSQL server, `insert` on PGlite. */
  readonly method?: WriteMethod;
  readonly log?: Log;
}

export interface SeedSummary {
  readonly counts: Record<SourceTableName, number>;
  readonly elapsedMs: number;
  readonly method: WriteMethod;
  readonly seed: number;
  readonly scale: number;
  /** ISO 8601 end of the generated history. */
  readonly asOf: string;
}

/** Orders generated and written per chunk: bounds memory whatever the scale. */
const ORDER_CHUNK = 20_000;

export async function seedTotesys(url: string, options: SeedOptions = {}): Promise<SeedSummary> {
  const started = Date.now();
  const scale = options.scale ?? 1;
  const seed = options.seed ?? 1;
  const asOf = options.asOf ?? new Date();
  const log = options.log ?? silentLog;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`seedTotesys: scale must be a positive number, got ${scale}`);
  if (!Number.isInteger(seed)) throw new Error(`seedTotesys: seed must be an integer, got ${seed}`);
  if (Number.isNaN(asOf.getTime())) throw new Error('seedTotesys: asOf is not a valid date');

  const written = await inTotesysTransaction(url, async (client): Promise<SeedSummary> => {
    const method = options.method ?? (await isPGlite(client) ? 'insert' : 'copy');
    await applyTotesysSchema(client);
    const before = await totesysRowCounts(client);
    const occupied = Object.entries(before).filter(([, n]) => n > 0);
    if (occupied.length > 0) {
      if (!options.reset) {
        throw new Error(
          `totesys already holds data (${occupied.map(([t, n]) => `${t}: ${n}`).join(', ')}); ` +
            'seeding would mix two histories. Seed an empty database, or pass reset to empty the totesys tables first.',
        );
      }
      await client.query(`TRUNCATE ${SOURCE_TABLE_NAMES.map((t) => quoteIdent(t)).join(', ')} RESTART IDENTITY`);
    }

    const checkedAtEnd = await skipPerRowForeignKeyChecks(client);
    const shape = seedShape(seed, scale, asOf);
    const writer = rowWriter(client, method);
    const counts = Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, 0])) as Record<SourceTableName, number>;
    const write = async (table: SourceTableName, rows: readonly Row[]): Promise<void> => {
      await writer.write(table, rows);
      counts[table] += rows.length;
    };

    // Parents before children, so foreign keys hold at every step.
    await write('address', addressRows(shape));
    await write('counterparty', counterpartyRows(shape));
    await write('currency', currencyRows(shape));
    await write('department', departmentRows(shape));
    await write('staff', staffRows(shape));
    await write('payment_type', paymentTypeRows(shape));
    await write('design', designRows(shape));

    const totalOrders = shape.salesOrders + shape.purchaseOrders;
    const random = new SeededRandom(seed, 'transaction_payment');
    let transactionId = 0;
    let sales: Row[] = [];
    let purchases: Row[] = [];
    let transactions: Row[] = [];
    let payments: Row[] = [];
    const flush = async (): Promise<void> => {
      await write('sales_order', sales);
      await write('purchase_order', purchases);
      await write('transaction', transactions);
      await write('payment', payments);
      sales = [];
      purchases = [];
      transactions = [];
      payments = [];
      log.progress('seed totesys', { orders: transactionId, of: totalOrders, elapsedMs: Date.now() - started });
    };
    for (const order of ordersInTimeOrder(shape)) {
      transactionId += 1;
      (order.kind === 'SALE' ? sales : purchases).push(order.orderRow);
      const { transaction, payment } = transactionAndPayment(shape, order, transactionId, random);
      transactions.push(transaction);
      payments.push(payment);
      if (transactions.length >= ORDER_CHUNK) await flush();
    }
    await flush();

    if (checkedAtEnd) await verifyForeignKeys(client);
    await resetTotesysSequences(client);
    return { counts, elapsedMs: 0, method, seed, scale, asOf: asOf.toISOString() };
  });
  const summary: SeedSummary = { ...written, elapsedMs: Date.now() - started }; // the commit included
  log.info('seeded totesys', { ...summary });
  return summary;
}

/**
 * Per-row foreign-key triggers are ~70% of a large seed's time. A superuser (the local server,
 * PGlite) can switch them off for this transaction (`session_replication_role = replica`); the
 * references are then checked once, set-wise, before commit (verifyForeignKeys). Elsewhere the
 * setting is refused and every row is checked as it is written.
 */
async function skipPerRowForeignKeyChecks(client: Client): Promise<boolean> {
  await client.query('SAVEPOINT replica_role');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query('RELEASE SAVEPOINT replica_role');
    return true;
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT replica_role');
    return false;
  }
}

/** The foreign keys of sql/totesys/001_totesys.sql: child table, column, parent table, parent key. */
const FOREIGN_KEYS: readonly (readonly [SourceTableName, string, SourceTableName, string])[] = [
  ['counterparty', 'legal_address_id', 'address', 'address_id'],
  ['staff', 'department_id', 'department', 'department_id'],
  ['sales_order', 'design_id', 'design', 'design_id'],
  ['sales_order', 'staff_id', 'staff', 'staff_id'],
  ['sales_order', 'counterparty_id', 'counterparty', 'counterparty_id'],
  ['sales_order', 'currency_id', 'currency', 'currency_id'],
  ['sales_order', 'agreed_delivery_location_id', 'address', 'address_id'],
  ['purchase_order', 'staff_id', 'staff', 'staff_id'],
  ['purchase_order', 'counterparty_id', 'counterparty', 'counterparty_id'],
  ['purchase_order', 'currency_id', 'currency', 'currency_id'],
  ['purchase_order', 'agreed_delivery_location_id', 'address', 'address_id'],
  ['transaction', 'sales_order_id', 'sales_order', 'sales_order_id'],
  ['transaction', 'purchase_order_id', 'purchase_order', 'purchase_order_id'],
  ['payment', 'transaction_id', 'transaction', 'transaction_id'],
  ['payment', 'counterparty_id', 'counterparty', 'counterparty_id'],
  ['payment', 'currency_id', 'currency', 'currency_id'],
  ['payment', 'payment_type_id', 'payment_type', 'payment_type_id'],
];

async function verifyForeignKeys(client: Client): Promise<void> {
  await client.query('SET LOCAL session_replication_role = origin');
  for (const [child, column, parent, key] of FOREIGN_KEYS) {
    const result = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM "${child}" c WHERE c."${column}" IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM "${parent}" p WHERE p."${key}" = c."${column}")`,
    );
    const missing = Number(result.rows[0].n);
    if (missing > 0) {
      throw new Error(`seedTotesys generated ${missing} rows of ${child}.${column} with no ${parent}.${key}: a generator bug (nothing was committed).`);
    }
  }
}

/** PGlite announces itself in version(); it cannot take COPY FROM STDIN over its socket. */
export async function isPGlite(client: Client): Promise<boolean> {
  const result = await client.query<{ version: string }>('SELECT version() AS version');
  return /pglite/i.test(result.rows[0].version);
}
