/**
 * Write load on totesys from pgbench (the PostgreSQL client's own load generator): several
 * connections at once, each running short transactions the way totesys's application servers do,
 * all stamping `last_updated` honestly from the database clock inside their transaction.
 *
 * The scripts, chosen at random per transaction by their weights:
 *   - amend:    one single-statement UPDATE of a random sales order (units, price);
 *   - order:    a new sales order (a copy of a random one) in a transaction that sleeps before it
 *               commits, so it is in flight while extracts take their snapshots;
 *   - pay:      a random payment flipping `paid`, single statement;
 *   - purchase: one single-statement UPDATE of a random purchase order.
 * Stamps are `now()` (the transaction's start), the earliest an honest writer can stamp: the case
 * the extract's upper bound must hold back for. With `stampSkewMs` every writer stamps that much
 * earlier (`now() - interval`): a client clock behind the database's, whose versions land below
 * the cursor when they commit after a snapshot — the case the late-commit rescue is for.
 *
 * Used by the write-load scenario (test/scenarios/write-load.test.ts) and the bench's soak.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface WriteLoadOptions {
  /** Connections writing at once (pgbench -c); default 4. */
  clients?: number;
  /** How long to write (pgbench -T), seconds. */
  seconds: number;
  /** Milliseconds a new order's transaction sleeps between its INSERT and COMMIT (default 0–20, uniform). */
  maxOrderSleepMs?: number;
  /** Milliseconds every writer's stamp lies before its transaction's start (a clock behind the database's); default 0. */
  stampSkewMs?: number;
}

export interface WriteLoadResult {
  /** Transactions committed. */
  transactions: number;
  /** Committed transactions per second, as pgbench measured them. */
  tps: number;
  /** Transactions pgbench saw fail (deadlocks, serialization); they rolled back and left no version. */
  failed: number;
  seconds: number;
}

const STAMP = `((now() AT TIME ZONE 'UTC') - make_interval(secs => :skew_ms / 1000.0))::timestamp(3)`;

const SCRIPTS = {
  amend: `\\set id random(1, :max_sales_order)
UPDATE sales_order SET units_sold = units_sold % 500 + 1, unit_price = unit_price + 0.01, last_updated = ${STAMP} WHERE sales_order_id = :id;
`,
  order: `\\set tmpl random(1, :max_sales_order)
\\set pause random(0, :max_sleep_ms)
BEGIN;
INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                         agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  SELECT ${STAMP}, ${STAMP}, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
         agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
    FROM sales_order WHERE sales_order_id = :tmpl;
\\sleep :pause ms
COMMIT;
`,
  pay: `\\set id random(1, :max_payment)
UPDATE payment SET paid = NOT paid, last_updated = ${STAMP} WHERE payment_id = :id;
`,
  purchase: `\\set id random(1, :max_purchase_order)
UPDATE purchase_order SET item_quantity = item_quantity % 900 + 1, last_updated = ${STAMP} WHERE purchase_order_id = :id;
`,
} as const;

/** Weights per script (pgbench `-f file@weight`). */
const WEIGHTS: Record<keyof typeof SCRIPTS, number> = { amend: 4, order: 3, pay: 2, purchase: 1 };

/** The pgbench executable: beside PostgreSQL's server binaries, or on PATH; undefined when missing. */
export function pgbenchBinary(): string | undefined {
  const candidates: string[] = [];
  try {
    candidates.push(path.join(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim(), 'pgbench'));
  } catch {
    // no pg_config
  }
  candidates.push('/usr/bin/pgbench');
  const found = candidates.find((c) => existsSync(c));
  if (found) return found;
  try {
    return execFileSync('sh', ['-c', 'command -v pgbench'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the write load against `url` for `options.seconds`; resolves when pgbench ends. The keys
 * it picks are bounded by the table sizes when it starts (new orders are written, not updated).
 */
export async function runWriteLoad(url: string, maxIds: { salesOrder: number; payment: number; purchaseOrder: number }, options: WriteLoadOptions): Promise<WriteLoadResult> {
  const pgbench = pgbenchBinary();
  if (!pgbench) throw new Error('pgbench is not installed (it comes with the PostgreSQL client: apt-get install postgresql-client)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'totes-write-load-'));
  try {
    const files = Object.entries(SCRIPTS).map(([name, text]) => {
      const file = path.join(dir, `${name}.sql`);
      writeFileSync(file, text);
      return `${file}@${WEIGHTS[name as keyof typeof SCRIPTS]}`;
    });
    const clients = options.clients ?? 4;
    const args = [
      '-n', // no vacuum of pgbench's own tables (there are none)
      '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(options.seconds),
      '-D', `max_sales_order=${maxIds.salesOrder}`, '-D', `max_payment=${maxIds.payment}`,
      '-D', `max_purchase_order=${maxIds.purchaseOrder}`, '-D', `max_sleep_ms=${options.maxOrderSleepMs ?? 20}`,
      '-D', `skew_ms=${options.stampSkewMs ?? 0}`,
      ...files.flatMap((f) => ['-f', f]),
      url,
    ];
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(pgbench, args, { maxBuffer: 16 << 20, timeout: (options.seconds + 120) * 1000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pgbench failed: ${err.message}\n${stderr.split('\n').slice(-8).join('\n')}`));
        else resolve({ stdout });
      });
    });
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    if (!Number.isFinite(transactions) || !Number.isFinite(tps)) throw new Error(`pgbench printed no result:\n${stdout.slice(-1000)}`);
    return { transactions, tps, failed, seconds: options.seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
