/**
 * End to end: the real `totes` CLI, as a child process, against real databases (a PostgreSQL server
 * when one is available, embedded PGlite otherwise), compared with an oracle that computes the star
 * schema in TypeScript from the source rows (test/support/expected-star.ts), never from the SQL
 * files under test.
 *
 * 1. Seeded totesys: full cycle → warehouse == oracle; simulated activity + incremental cycle →
 *    warehouse == oracle of both snapshots; a third run changes no byte of the warehouse and
 *    publishes no batch.
 * 2. A totesys the pipeline did not create (DDL applied by hand, rows inserted with plain SQL, NULLs,
 *    an unknown currency, a `_prisma_migrations` row), warehouse in schema `analytics`: full cycle,
 *    then an amendment and a department move, incremental cycle; `_prisma_migrations` never reaches
 *    the lake.
 *
 * The seed runs at scale 1 (about 7k sales and 3k purchase orders, as in ARCHITECTURE.md, "The
 * totesys we model"): about 45 s for the file on a PostgreSQL server. Set TOTES_E2E_SCALE (e.g. 0.1)
 * for a quicker run.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { SOURCE_TABLES, type SourceColumn, type SourceTableName } from '../../functions/core/contract/source-tables';
import { expectedStar, type SourceSnapshot, type TextRow } from '../support/expected-star';
import { describeDifferences, diffStar, readWarehouse, warehouseFingerprint } from '../support/warehouse-snapshot';
import { testDatabase } from '../support/test-postgres';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'functions/cli/totes.cjs');
const SCALE = process.env.TOTES_E2E_SCALE ?? '1';

jest.setTimeout(180_000);

type Db = Awaited<ReturnType<typeof testDatabase>>;
const opened: Db[] = [];
const lakes: string[] = [];

async function database(name: string): Promise<Db> {
  const db = await testDatabase(name);
  opened.push(db);
  return db;
}

async function lakeDir(): Promise<string> {
  const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-e2e-'));
  lakes.push(parent);
  return path.join(parent, 'lake');
}

afterAll(async () => {
  for (const db of opened.reverse()) await db.close().catch(() => undefined);
  for (const dir of lakes) await fs.rm(dir, { recursive: true, force: true });
});

/** Runs `totes <args>`; rejects with the exit code and both output streams when it fails. */
function totes(args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_') || k === 'TOTES_TEST_PG_URL'));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 150_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`totes ${args.join(' ')} failed (exit ${String(err.code ?? err.signal)}):\n${stderr}\n${stdout}`.slice(0, 8000)));
      else resolve(stdout);
    });
  });
}

/** Every row of the 11 contract tables, as text: timestamps 'YYYY-MM-DD HH24:MI:SS.MS', the rest `::text`. */
async function readSource(url: string): Promise<SourceSnapshot> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const out: Partial<Record<SourceTableName, TextRow[]>> = {};
    for (const table of SOURCE_TABLES) {
      const select = table.columns.map((c) => `${sourceText(c)} AS ${escapeIdentifier(c.name)}`).join(', ');
      const sql = `SELECT ${select} FROM ${escapeIdentifier(table.name)} ORDER BY ${escapeIdentifier(table.primaryKey)}`;
      out[table.name] = (await client.query<Record<string, string | null>>(sql)).rows;
    }
    return out as SourceSnapshot;
  } finally {
    await client.end();
  }
}

function sourceText(c: SourceColumn): string {
  const col = escapeIdentifier(c.name);
  if (c.type === 'timestamp(3)') return `to_char(${col}, 'YYYY-MM-DD HH24:MI:SS.MS')`;
  return c.type === 'text' ? col : `${col}::text`;
}

async function expectWarehouseMatches(url: string, schema: string, snapshots: SourceSnapshot[]): Promise<void> {
  const expected = expectedStar(snapshots);
  const actual = await readWarehouse(url, schema);
  const report = describeDifferences(diffStar(expected, actual));
  expect(report).toBe('warehouse equals the oracle');
}

/** Every file under `dir`, relative, sorted; [] when the folder does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

async function runSql(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const versions = (s: SourceSnapshot) => s.sales_order.length + s.purchase_order.length + s.payment.length;

describe('totes end to end', () => {
  it('full cycle, simulated activity and incremental cycle match the oracle; a repeated run changes nothing', async () => {
    const source = await database('e2e_source');
    const warehouse = await database('e2e_warehouse');
    const lake = await lakeDir();
    const common = ['--source-url', source.url, '--lake', lake];
    const run = ['run', ...common, '--warehouse-url', warehouse.url];

    await totes(['seed', '--scale', SCALE, ...common]);
    const first = await readSource(source.url);
    expect(first.sales_order.length).toBeGreaterThan(0);
    await totes(run);
    await expectWarehouseMatches(warehouse.url, 'public', [first]);

    await totes(['simulate', '--minutes', '30', ...common]);
    const second = await readSource(source.url);
    const firstKeys = new Set(first.sales_order.map((r) => `${r.sales_order_id}|${r.last_updated}`));
    expect(second.sales_order.filter((r) => !firstKeys.has(`${r.sales_order_id}|${r.last_updated}`)).length).toBeGreaterThan(0);
    await totes(run);
    await expectWarehouseMatches(warehouse.url, 'public', [first, second]);

    const manifests = path.join(lake, 'ingestion', 'manifests', 'extract');
    const before = { warehouse: await warehouseFingerprint(warehouse.url), manifests: await filesUnder(manifests), ingestion: await filesUnder(path.join(lake, 'ingestion')) };
    expect(before.manifests.length).toBeGreaterThanOrEqual(2);
    await totes(run);
    const after = { warehouse: await warehouseFingerprint(warehouse.url), manifests: await filesUnder(manifests), ingestion: await filesUnder(path.join(lake, 'ingestion')) };
    expect(after.manifests).toEqual(before.manifests);
    expect(after.ingestion).toEqual(before.ingestion);
    expect(after.warehouse).toEqual(before.warehouse);
    expect(versions(second)).toBeGreaterThan(versions(first));
  });

  it('works on a totesys it did not create, with the warehouse in schema analytics', async () => {
    const source = await database('e2e_source');
    const warehouse = await database('e2e_warehouse');
    const lake = await lakeDir();
    await runSql(source.url, await fs.readFile(path.join(ROOT, 'sql/totesys/001_totesys.sql'), 'utf8'));
    await runSql(source.url, HAND_WRITTEN_TOTESYS);
    const run = ['run', '--source-url', source.url, '--warehouse-url', warehouse.url, '--lake', lake, '--warehouse-schema', 'analytics'];

    const first = await readSource(source.url);
    await totes(run);
    await expectWarehouseMatches(warehouse.url, 'analytics', [first]);

    await runSql(source.url, HAND_WRITTEN_CHANGES);
    const second = await readSource(source.url);
    await totes(run);
    await expectWarehouseMatches(warehouse.url, 'analytics', [first, second]);

    const publicTables = await warehouseFingerprint(warehouse.url, 'public');
    expect(Object.keys(publicTables).filter((t) => t.startsWith('dim_') || t.startsWith('fact_'))).toEqual([]);
    expect((await filesUnder(lake)).filter((f) => f.includes('_prisma_migrations'))).toEqual([]);
    const manifests = path.join(lake, 'ingestion', 'manifests', 'extract');
    const manifestFiles = await filesUnder(manifests);
    expect(manifestFiles).toHaveLength(2);
    for (const f of manifestFiles) expect(`${f}: ${await fs.readFile(path.join(manifests, f), 'utf8')}`).not.toContain('_prisma_migrations');
  });
});

/**
 * A small totesys written by hand: NULLs in every nullable column, a currency the pipeline has no
 * name for (JPY), a leap day, times with and without milliseconds, a month end, a refund, a
 * purchase, and one more `_prisma_migrations` row.
 */
const HAND_WRITTEN_TOTESYS = `
INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
VALUES ('0b7c2d4e-0000-4000-8000-000000000002', 'e2e', '2023-01-01 00:00:01+00', '20230101000000_e2e', '2023-01-01 00:00:00+00', 1);

INSERT INTO address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated) VALUES
  (1, '6826 Herzog Via', NULL, 'Avon', 'New Patienceburgh', '28441', 'Turkey', '1803 637401', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (2, '179 Alexie Cliffs', 'Flat 9', NULL, 'Aliso Viejo', '99305-7380', 'San Marino', '9621 880720', '2022-11-03 14:20:49', '2022-11-03 14:20:49'),
  (3, '37736 Heathcote Lock', NULL, NULL, 'Olsonside', '47518', 'Republic of Korea', '1239 706295', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962');

INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, created_at, last_updated) VALUES
  (1, 'Fahey and Sons', 2, NULL, NULL, '2022-11-03 14:20:51.563', '2022-11-03 14:20:51.563'),
  (2, 'Leannon, Predovic and Morar', 3, 'Mrs. Lucy Runolfsdottir', 'Myra Kovacek', '2022-11-03 14:20:51.563', '2022-11-03 14:20:51.563');

INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES
  (1, 'GBP', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (2, 'USD', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (3, 'EUR', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (4, 'JPY', '2023-02-28 23:59:59.999', '2023-02-28 23:59:59.999');

INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated) VALUES
  (1, 'Sales', 'Manchester', 'Richard Roma', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (2, 'Purchasing', NULL, NULL, '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962');

INSERT INTO staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated) VALUES
  (1, 'Jeremie', 'Franey', 1, 'jeremie.franey@terrifictotes.com', '2022-11-03 14:20:51.563', '2022-11-03 14:20:51.563'),
  (2, 'Deron', 'Beier', 2, 'deron.beier@terrifictotes.com', '2022-11-03 14:20:51.563', '2022-11-03 14:20:51.563');

INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES
  (8, 'Wooden', '/usr', 'wooden-20220717-npgz.json', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962');

INSERT INTO payment_type (payment_type_id, payment_type_name, created_at, last_updated) VALUES
  (1, 'SALES_RECEIPT', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (2, 'SALES_REFUND', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (3, 'PURCHASE_PAYMENT', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962'),
  (4, 'PURCHASE_REFUND', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962');

INSERT INTO sales_order (sales_order_id, created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price,
                         currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) VALUES
  (1, '2024-02-28 23:59:59.999', '2024-02-28 23:59:59.999', 8, 1, 1, 84754, 2.43, 4, '2024-03-04', '2024-02-29', 1),
  (2, '2024-03-31 10:00:00', '2024-03-31 10:00:00', 8, 1, 2, 100, 3.00, 1, '2024-04-02', '2024-04-01', 3);

INSERT INTO purchase_order (purchase_order_id, created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,
                            currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) VALUES
  (1, '2024-03-01 00:00:00.001', '2024-03-01 00:00:00.001', 2, 2, 'ZDOI5EA', 371, 361.39, 3, '2024-03-06', '2024-03-05', 2);

INSERT INTO "transaction" (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) VALUES
  (1, 'SALE', 1, NULL, '2024-02-28 23:59:59.999', '2024-02-28 23:59:59.999'),
  (2, 'PURCHASE', NULL, 1, '2024-03-01 00:00:00.001', '2024-03-01 00:00:00.001'),
  (3, 'SALE', 2, NULL, '2024-03-31 10:00:00', '2024-03-31 10:00:00');

INSERT INTO payment (payment_id, created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id,
                     paid, payment_date, company_ac_number, counterparty_ac_number) VALUES
  (1, '2024-02-28 23:59:59.999', '2024-02-28 23:59:59.999', 1, 1, 205952.22, 4, 1, false, '2024-02-29', 67305075, 31622269),
  (2, '2024-03-01 00:00:00.001', '2024-03-01 00:00:00.001', 2, 2, 134075.69, 3, 3, true, '2024-03-05', 81718079, 47839086),
  (3, '2024-03-31 10:00:00', '2024-03-31 10:00:00', 3, 2, -300.00, 1, 2, false, '2024-04-01', 81718079, 47839086);
`;

/**
 * Activity after the first cycle: an amended order, a payment turning paid, a department move, a new
 * district, a new currency. Stamped with the current UTC time, as the application does, so each
 * change lies after the first cycle's cursor.
 */
const NOW = `(now() AT TIME ZONE 'UTC')::timestamp(3)`;
const HAND_WRITTEN_CHANGES = `
UPDATE sales_order SET units_sold = 90000, agreed_delivery_date = '2024-04-15', last_updated = ${NOW} WHERE sales_order_id = 1;
UPDATE payment SET paid = true, last_updated = ${NOW} WHERE payment_id = 1;
UPDATE staff SET department_id = 2, last_updated = ${NOW} WHERE staff_id = 1;
UPDATE department SET location = 'Leeds', last_updated = ${NOW} WHERE department_id = 2;
UPDATE address SET district = 'Kent', last_updated = ${NOW} WHERE address_id = 2;
INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (5, 'CHF', ${NOW}, ${NOW});
`;
