import { Client } from 'pg';
import { SOURCE_TABLES, postgresDataType } from '../../functions/core/contract/source-tables';
import { seedTotesys } from '../../functions/totesys/seed';
import { testDatabase, type TestDatabase } from '../support/test-postgres';

const asOf = new Date('2025-06-01T12:00:00.000Z');

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Every row of every totesys table as text, in key order: equal dumps mean identical contents. */
async function dump(url: string): Promise<Record<string, string[]>> {
  return withClient(url, async (client) => {
    const out: Record<string, string[]> = {};
    for (const table of SOURCE_TABLES) {
      const result = await client.query<{ r: string }>(`SELECT t::text AS r FROM "${table.name}" t ORDER BY "${table.primaryKey}"`);
      out[table.name] = result.rows.map((row) => row.r);
    }
    return out;
  });
}

async function one<T>(url: string, sql: string): Promise<T> {
  return withClient(url, async (client) => (await client.query(sql)).rows[0] as T);
}

describe('seedTotesys', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await testDatabase('seed');
    await seedTotesys(db.url, { seed: 7, asOf });
  });
  afterAll(() => db?.close());

  it('builds the schema column for column as the table contract declares it', async () => {
    const columns = await withClient(db.url, async (client) =>
      (await client.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; udt_name: string;
        character_maximum_length: number | null; numeric_precision: number | null; numeric_scale: number | null; datetime_precision: number | null }>(
        `SELECT table_name, column_name, data_type, is_nullable, udt_name, character_maximum_length,
                numeric_precision, numeric_scale, datetime_precision
           FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)).rows);
    for (const table of SOURCE_TABLES) {
      const actual = columns.filter((c) => c.table_name === table.name);
      expect(actual.map((c) => c.column_name)).toEqual(table.columns.map((c) => c.name));
      table.columns.forEach((column, i) => {
        const found = actual[i];
        expect({ table: table.name, column: column.name, type: found.data_type, nullable: found.is_nullable === 'YES' })
          .toEqual({ table: table.name, column: column.name, type: postgresDataType(column.type), nullable: column.nullable });
        if (column.type === 'varchar(3)') expect(found.character_maximum_length).toBe(3);
        if (column.type === 'numeric(10,2)') expect([found.numeric_precision, found.numeric_scale]).toEqual([10, 2]);
        if (column.type === 'timestamp(3)') expect(found.datetime_precision).toBe(3);
        if (column.type.startsWith('enum:')) expect(found.udt_name).toBe(column.type.slice('enum:'.length));
      });
    }
    const keys = await withClient(db.url, async (client) =>
      (await client.query<{ table_name: string; column_name: string }>(
        `SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
           JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
          WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'`)).rows);
    for (const table of SOURCE_TABLES) {
      expect(keys.filter((k) => k.table_name === table.name).map((k) => k.column_name)).toEqual([table.primaryKey]);
    }
  });

  it('keeps a _prisma_migrations table with its migration row, as Prisma does', async () => {
    const row = await one<{ migration_name: string; n: string }>(db.url,
      'SELECT migration_name, (SELECT count(*) FROM _prisma_migrations)::text AS n FROM _prisma_migrations');
    expect(row).toEqual({ migration_name: '20221103140816_totesys', n: '1' });
  });

  it('has the shape of totesys: reference sizes, one transaction per order, one payment per transaction', async () => {
    const counts = await one<Record<string, string>>(db.url, `SELECT ${SOURCE_TABLES.map((t) => `(SELECT count(*) FROM "${t.name}")::text AS "${t.name}"`).join(', ')}`);
    expect(counts).toEqual({
      address: '30', counterparty: '20', currency: '3', department: '8', design: '300', staff: '20',
      sales_order: '7000', purchase_order: '3000', transaction: '10000', payment: '10000', payment_type: '4',
    });
    const facts = await one<Record<string, string | boolean>>(db.url, `
      SELECT (SELECT count(*) FROM "transaction" WHERE transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL)::text AS sale_tx,
             (SELECT count(*) FROM "transaction" WHERE transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL AND sales_order_id IS NULL)::text AS purchase_tx,
             (SELECT count(*) FROM payment WHERE paid)::int > 0 AND (SELECT count(*) FROM payment WHERE NOT paid)::int > 0 AS some_paid_some_not,
             (SELECT count(*) FROM sales_order WHERE last_updated > created_at)::int BETWEEN 400 AND 1200 AS some_amended,
             (SELECT count(*) FROM address WHERE address_line_2 IS NULL)::int > 0 AND (SELECT count(*) FROM address WHERE district IS NULL)::int > 0 AS nullable_address,
             (SELECT count(*) FROM department WHERE location IS NULL)::int > 0 AS nullable_location,
             (SELECT string_agg(currency_code, ',' ORDER BY currency_id) FROM currency) AS currencies,
             (SELECT count(*) FROM sales_order WHERE agreed_delivery_date > '2025-06-01')::int > 0 AS future_dates,
             (SELECT bool_and(agreed_delivery_date ~ '^\\d{4}-\\d{2}-\\d{2}$' AND agreed_payment_date ~ '^\\d{4}-\\d{2}-\\d{2}$') FROM sales_order) AS date_text,
             (SELECT bool_and(payment_date ~ '^\\d{4}-\\d{2}-\\d{2}$') FROM payment) AS payment_date_text,
             (SELECT min(created_at)::text FROM sales_order) AS first_order,
             (SELECT max(last_updated)::text FROM payment) AS last_change`);
    expect(facts).toMatchObject({
      sale_tx: '7000', purchase_tx: '3000', some_paid_some_not: true, some_amended: true, nullable_address: true,
      nullable_location: true, currencies: 'GBP,USD,EUR', future_dates: true, date_text: true, payment_date_text: true,
    });
    expect(String(facts.first_order) < '2023-12-03').toBe(true);
    expect(String(facts.last_change) <= '2025-06-01 12:00:00.000').toBe(true);
    for (const table of SOURCE_TABLES) {
      const bad = await one<{ n: string }>(db.url, `SELECT count(*)::text AS n FROM "${table.name}" WHERE last_updated < created_at OR last_updated > '2025-06-01 12:00:00'`);
      expect({ table: table.name, bad: bad.n }).toEqual({ table: table.name, bad: '0' });
    }
  });

  it('resets the serial sequences past the seeded ids', async () => {
    const next = await one<{ id: number }>(db.url, "SELECT nextval(pg_get_serial_sequence('\"transaction\"', 'transaction_id'))::int AS id");
    expect(next.id).toBe(10001);
  });

  it('refuses to seed over existing data unless told to reset', async () => {
    await expect(seedTotesys(db.url, { seed: 7, asOf })).rejects.toThrow(/already holds data.*reset/);
  });

  it('is deterministic, whichever way rows are written, and reset reseeds identically', async () => {
    const other = await testDatabase('seed-again');
    try {
      const method = other.kind === 'server' ? 'insert' : undefined; // the first was COPY on a server
      await seedTotesys(other.url, { seed: 7, asOf, method });
      const [a, b] = await Promise.all([dump(db.url), dump(other.url)]);
      expect(b).toEqual(a);
      await seedTotesys(other.url, { seed: 8, asOf, reset: true });
      const c = await dump(other.url);
      expect(c.sales_order).not.toEqual(a.sales_order);
      expect(c.currency.length).toBe(3);
    } finally {
      await other.close();
    }
  });

  it('multiplies the order tables by scale and leaves reference data alone', async () => {
    const small = await testDatabase('seed-scale');
    try {
      const summary = await seedTotesys(small.url, { seed: 7, asOf, scale: 0.2 });
      expect(summary.counts).toMatchObject({ sales_order: 1400, purchase_order: 600, transaction: 2000, payment: 2000, design: 300, address: 30 });
      const [scaled, full] = await Promise.all([dump(small.url), dump(db.url)]);
      expect(scaled.address).toEqual(full.address);
      expect(scaled.staff).toEqual(full.staff);
    } finally {
      await small.close();
    }
  });
});
