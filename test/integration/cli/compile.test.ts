import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { RawLake, REPO_ROOT } from '../transform/raw-lake';
import { batchOne } from '../transform/totesys-rows';

/**
 * `totes compile` at the edge: the CLI as a child process. What it renders is checked against what
 * the transform sends in test/integration/transform/compile.test.ts; here, its output, its errors,
 * and that --engine trino needs no server.
 */
const CLI = path.resolve(__dirname, '../../../functions/cli/totes.cjs');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_')));
const totes = (...args: string[]) => spawnSync(process.execPath, [CLI, 'compile', ...args], { encoding: 'utf8', timeout: 120_000, env });

describe('totes compile', () => {
  let lake: RawLake;
  let factHash: string;
  beforeAll(async () => {
    lake = await RawLake.create();
    writeFileSync(path.join(lake.dir, '.totes-lake'), 'test lake\n');
    await lake.writeBatch(1, batchOne);
    factHash = (await loadSqlFiles(REPO_ROOT)).find((f) => f.table.name === 'fact_sales_order')!.sqlHash;
  });
  afterAll(async () => lake.close());

  it('prints the next batch\'s DuckDB statements for a table, each with its header, by default', () => {
    const r = totes('fact_sales_order', '--lake', lake.dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`-- totes compile: batch ${lake.batchId(1)} (seq 1, the next the transform runs), engine duckdb`);
    expect(r.stdout).toContain(`-- source: sql/transform/fact_sales_order.sql (sha256 ${factHash})`);
    expect(r.stdout).toContain(`-- lineage: _batch_id = '${lake.batchId(1)}' appended by the engine; _sql_hash = '${factHash}' appended by the engine`);
    expect(r.stdout).toMatch(/-- step: current-state base: the batch's latest version of each sales_order_id/);
    // Each statement binds the relations it names, no others (core/sql/relations.ts mentionedRelations).
    expect(r.stdout).toMatch(/^COPY \(WITH "batch_sales_order" AS \(SELECT \* FROM read_parquet\(\$1\)\)/m);
    expect(r.stdout).not.toContain('"batch_address" AS');
    expect(r.stdout).not.toMatch(/step: dimension rebuilt whole/); // only the table asked for, and the current states it reads
  });

  it('--engine trino renders Trino SQL with no server; --json gives the statements', () => {
    const r = totes('fact_sales_order', '--engine', 'trino', '--json', '--lake', lake.dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { engine: string; statements: { tables: string[]; role: string; sql: string }[] };
    expect(out.engine).toBe('trino');
    const ctas = out.statements.find((s) => s.tables[0] === 'fact_sales_order' && s.role.startsWith('CTAS'))!;
    expect(ctas.sql).toMatch(/^CREATE TABLE "lake"\."totes_processed"\."star__fact_sales_order__batch_id_/);
    expect(ctas.sql).toContain(`CAST('${factHash}' AS varchar) AS "_sql_hash"`);
  });

  it('names the valid tables when given an unknown one, and creates nothing', () => {
    const missing = path.join(mkdtempSync(path.join(os.tmpdir(), 'totes-compile-')), 'lake');
    const r = totes('fact_sales', '--lake', missing);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('Not a table the transform builds: fact_sales (the tables are dim_date, dim_staff,');
    expect(r.stderr).toContain('fact_sales_order, fact_purchase_order, fact_payment, current_address');
    expect(existsSync(missing)).toBe(false);
  });

  it('says to run the pipeline first when there is no lake, and creates none', () => {
    const missing = path.join(mkdtempSync(path.join(os.tmpdir(), 'totes-compile-')), 'lake');
    const r = totes('--lake', missing);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`No lake at ${missing} yet: run \`totes run\` (or \`npm start\`) first`);
    expect(existsSync(missing)).toBe(false);
  });

  it('--engine athena is for compile only', () => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--engine', 'athena'], { encoding: 'utf8', timeout: 120_000, env });
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('--engine athena only renders statements');
  });
});
