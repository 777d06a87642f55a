/**
 * The drift check's reading of the source's columns (functions/core/extract/schema-drift.ts
 * `INFORMATION_SCHEMA_QUERY`, from the system catalogs) says what `information_schema.columns`
 * says, row for row, on every kind of column a table can have.
 */
import pg from 'pg';
import { INFORMATION_SCHEMA_QUERY } from '../../../functions/core/extract/schema-drift';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

jest.setTimeout(60_000);
let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await testDatabase('schema_drift');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`CREATE TYPE mood AS ENUM ('ok', 'not ok')`);
  await client.query(`CREATE DOMAIN money2 AS numeric(10, 2) NOT NULL`);
  await client.query(`CREATE DOMAIN tags AS text[]`);
  await client.query(`CREATE TABLE drift_a (
    id integer PRIMARY KEY, big bigint, small smallint, name varchar(40) NOT NULL, note text, code char(3), price numeric(10, 2),
    ratio double precision, real_ratio real, flag boolean, day date, at timestamp, at_tz timestamptz, t time, t_tz timetz,
    span interval, doc jsonb, raw bytea, uid uuid, feeling mood, amount money2, labels tags, numbers integer[], gone integer)`);
  await client.query('ALTER TABLE drift_a DROP COLUMN gone');
  await client.query('CREATE TABLE drift_b (id serial PRIMARY KEY, last_updated timestamp NOT NULL DEFAULT now())');
  await client.query('CREATE VIEW drift_v AS SELECT id, name FROM drift_a');
  await client.query('CREATE INDEX drift_a_name ON drift_a (name)');
});
afterAll(async () => {
  await client?.end();
  await db?.close();
});

it('gives the rows information_schema.columns gives, in its order, for tables, a view and every kind of column', async () => {
  const tables = ['drift_a', 'drift_b', 'drift_v', 'drift_a_name', 'no_such_table'];
  const viewRows = await client.query(
    'SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1::text[]) ORDER BY table_name, ordinal_position',
    [tables],
  );
  const catalogRows = await client.query(INFORMATION_SCHEMA_QUERY, [tables]);
  expect(viewRows.rows.length).toBe(23 + 2 + 2);
  expect(catalogRows.rows).toEqual(viewRows.rows);
  // What the comparison covers: a domain's base type, arrays, an enum, NOT NULL from a domain.
  expect(catalogRows.rows).toEqual(expect.arrayContaining([
    { table_name: 'drift_a', column_name: 'amount', data_type: 'numeric', is_nullable: 'NO' },
    { table_name: 'drift_a', column_name: 'labels', data_type: 'ARRAY', is_nullable: 'YES' },
    { table_name: 'drift_a', column_name: 'feeling', data_type: 'USER-DEFINED', is_nullable: 'YES' },
    { table_name: 'drift_a', column_name: 'at', data_type: 'timestamp without time zone', is_nullable: 'YES' },
  ]));
});
