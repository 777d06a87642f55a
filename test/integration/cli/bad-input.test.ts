import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { testDatabase } from '../../support/test-postgres';

/**
 * Bad input stops `totes` with a clear message naming what and where, a non-zero exit, and
 * nothing half-written: no batch manifest appears for a run that could not read its source.
 */
const CLI = path.resolve(__dirname, '../../../functions/cli/totes.cjs');
const totes = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'totes-bad-'));
const NOWHERE = 'postgres://nobody@127.0.0.1:1/none';

function manifests(lake: string): string[] {
  try {
    return readdirSync(path.join(lake, 'ingestion', 'manifests', 'extract'));
  } catch {
    return [];
  }
}

it('refuses a lake folder that is not one, and leaves it untouched', () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'thesis.docx'), 'precious');
  const r = totes('run', '--lake', dir, '--source-url', NOWHERE, '--warehouse-url', NOWHERE);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`--lake ${dir} is not a Totes Lake folder`);
  expect(readdirSync(dir)).toEqual(['thesis.docx']);
});

it('names an unreachable totesys and publishes nothing', () => {
  const lake = path.join(tmp(), 'lake');
  const r = totes('run', '--lake', lake, '--source-url', NOWHERE, '--warehouse-url', NOWHERE);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/totes run failed: extract failed: Cannot connect to totesys at postgres:\/\/nobody@127\.0\.0\.1:1\/none/);
  expect(manifests(lake)).toEqual([]);
});

it('names a usage mistake with exit code 64', () => {
  const r = totes('run', '--warehouse-schema', 'Robert"); DROP TABLE x; --');
  expect(r.status).toBe(64);
  expect(r.stderr).toContain('--warehouse-schema: a lower-case PostgreSQL identifier');
});

describe('against a real database', () => {
  let db: Awaited<ReturnType<typeof testDatabase>>;
  beforeAll(async () => {
    db = await testDatabase('badinput');
  });
  afterAll(async () => db.close());

  it('names the missing totesys tables and publishes nothing', () => {
    const lake = path.join(tmp(), 'lake');
    const r = totes('run', '--lake', lake, '--source-url', db.url, '--warehouse-url', NOWHERE);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/table "address" is missing from the source database/);
    expect(r.stderr).toContain('Nothing was extracted');
    expect(manifests(lake)).toEqual([]);
  });

  it('names an unreachable warehouse; the extracted batch stays pending and loads on the next run', async () => {
    const root = tmp();
    const lake = path.join(root, 'lake');
    mkdirSync(root, { recursive: true });
    expect(totes('seed', '--scale', '0.02', '--source-url', db.url).status).toBe(0);
    const failed = totes('run', '--lake', lake, '--source-url', db.url, '--warehouse-url', NOWHERE);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/load failed: Cannot connect to the warehouse .*127\.0\.0\.1:1.*the batch stays pending/);
    expect(manifests(lake)).toHaveLength(1);

    const warehouse = await testDatabase('badinput_wh');
    try {
      const ok = totes('run', '--lake', lake, '--source-url', db.url, '--warehouse-url', warehouse.url);
      expect(ok.status).toBe(0);
      const client = new pg.Client({ connectionString: warehouse.url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT count(*)::int AS n FROM load_ledger');
        expect(rows[0].n).toBe(1);
      } finally {
        await client.end();
      }
    } finally {
      await warehouse.close();
    }
  });
});
