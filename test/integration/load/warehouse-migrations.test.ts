import { cp, mkdtemp, rm, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { STAR_TABLES, starPostgresType } from '../../../functions/core/contract/star-tables';
import { migrateWarehouse, quoteSchema, readWarehouseMigrations } from '../../../functions/core/load/warehouse-migrations';
import { REPO_ROOT, warehouseDatabase, type WarehouseDb } from './load-fixtures';

describe('migrateWarehouse', () => {
  let db: WarehouseDb;
  let client: pg.Client;

  beforeAll(async () => {
    db = await warehouseDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await db.close();
  });

  it('creates the star schema and ledger once, matching the star contract', async () => {
    const all = (await readWarehouseMigrations(REPO_ROOT)).map((m) => m.version);
    expect(all.slice(0, 2)).toEqual(['0001_star_schema', '0002_deleted_rows']);
    expect(await migrateWarehouse(client, 'public', REPO_ROOT)).toEqual({ applied: all, alreadyApplied: [] });
    expect(await migrateWarehouse(client, 'public', REPO_ROOT)).toEqual({ applied: [], alreadyApplied: all });

    const res = await client.query<{ table_name: string; column_name: string; type: string; is_nullable: string }>(
      `SELECT c.table_name, c.column_name, format_type(a.atttypid, a.atttypmod) AS type, c.is_nullable
         FROM information_schema.columns c
         JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
        WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position`,
    );
    // A column a later migration added (npm run generate: functions/build/generate-models.ts) is
    // nullable in the warehouse whatever its model says: the rows loaded before it have no value.
    const added = new Set(
      (await readWarehouseMigrations(REPO_ROOT)).flatMap((m) => [...m.sql.matchAll(/ALTER TABLE "?(\w+)"? ADD COLUMN "?(\w+)"?/g)].map((x) => `${x[1]}.${x[2]}`)),
    );
    for (const table of STAR_TABLES) {
      const actual = res.rows.filter((r) => r.table_name === table.name).map((r) => [r.column_name, r.type, r.is_nullable]);
      const expected = [
        ...(table.surrogateKey ? [[table.surrogateKey, 'bigint', 'NO']] : []),
        ...table.columns.map((c) => [c.name, starPostgresType(c.type).replace('time(3)', 'time(3) without time zone'), c.nullable || added.has(`${table.name}.${c.name}`) ? 'YES' : 'NO']),
      ];
      expect({ table: table.name, columns: actual }).toEqual({ table: table.name, columns: expected });
    }
    const ledger = res.rows.filter((r) => r.table_name === 'load_ledger').map((r) => r.column_name);
    expect(ledger).toEqual(['batch_id', 'seq', 'loaded_at', 'rows', 'sql_versions', 'elapsed_ms']);

    // Keys: natural keys for dimensions, (id, last_updated_date, last_updated_time) unique for facts.
    const keys = await client.query<{ table_name: string; constraint_type: string; columns: string }>(
      `SELECT tc.table_name, tc.constraint_type, string_agg(k.column_name, ',' ORDER BY k.ordinal_position) AS columns
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
        WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
        GROUP BY tc.table_name, tc.constraint_type, tc.constraint_name`,
    );
    for (const table of STAR_TABLES) {
      const found = keys.rows.filter((k) => k.table_name === table.name).map((k) => `${k.constraint_type}:${k.columns}`).sort();
      const expected = table.kind === 'fact' ? [`PRIMARY KEY:${table.surrogateKey}`, `UNIQUE:${table.key.join(',')}`] : [`PRIMARY KEY:${table.key.join(',')}`];
      expect({ table: table.name, keys: found }).toEqual({ table: table.name, keys: expected.sort() });
    }
  });

  it('migrates another schema without touching public, and rejects unsafe schema names', async () => {
    await migrateWarehouse(client, 'totes_dw', REPO_ROOT);
    const res = await client.query<{ n: string }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'totes_dw' AND table_type = 'BASE TABLE'`);
    expect(Number(res.rows[0].n)).toBe(11 + 3); // star tables, load_ledger, deleted_rows, schema_migrations
    for (const bad of ['Public', 'dw; DROP TABLE x', '1dw', '', 'a"b']) {
      expect(() => quoteSchema(bad)).toThrow(/Invalid warehouse schema name/);
      await expect(migrateWarehouse(client, bad, REPO_ROOT)).rejects.toThrow(/Invalid warehouse schema name/);
    }
  });

  it('refuses an applied migration whose file changed, and rolls back a failing one', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'totes-migrations-'));
    try {
      await cp(path.join(REPO_ROOT, 'sql', 'warehouse'), path.join(root, 'sql', 'warehouse'), { recursive: true });
      await appendFile(path.join(root, 'sql', 'warehouse', '0001_star_schema.sql'), '\n-- edited\n');
      await expect(migrateWarehouse(client, 'public', root)).rejects.toThrow(/0001_star_schema\.sql was applied to schema public with different content/);

      await cp(path.join(REPO_ROOT, 'sql', 'warehouse', '0001_star_schema.sql'), path.join(root, 'sql', 'warehouse', '0001_star_schema.sql'));
      await appendFile(path.join(root, 'sql', 'warehouse', '0009_broken.sql'), 'CREATE TABLE half_done (x integer);\nSELECT no_such_function();\n');
      await expect(migrateWarehouse(client, 'public', root)).rejects.toThrow(/0009_broken\.sql failed in schema public/);
      const half = await client.query(`SELECT to_regclass('public.half_done') AS t`);
      expect(half.rows[0].t).toBeNull();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
