/**
 * Schema evolution declared once (issue 16, item 3, and its acceptance scenario): an analyst adds a
 * derived column to a fact, the order's gross value, in the two files beside each other —
 * `sql/transform/fact_sales_order.yml` (the model) and `.sql` (the SELECT) — runs `npm run generate`,
 * and everything else follows: the star contract, the warehouse migration, the load, the Glue tables.
 * `totes run` then refuses to extend the fact and names `totes backfill fact_sales_order`; the
 * backfill rebuilds every version with the new column in the lake and the warehouse, counts and key
 * sums unchanged; the batches that waited are applied after it, once.
 *
 * The changed code is a copy of the repository in a temporary folder (its own contract, compiled by
 * its own `npm run generate`), run as the analyst runs it: the `totes` CLI in a child process, on the
 * scenario's lake and databases. The audit-trigger oracle checks the end state.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { transformPending } from '../../functions/core/transform/transform';
import { NOW, openScenario, REPO_ROOT, type Scenario } from './scenario-harness';

jest.setTimeout(300_000);
const run = promisify(execFile);
let s: Scenario;
let repo: string;

/** Runs a command in the copy, returning its exit code and output (a failure is an outcome, not an exception). */
async function inCopy(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: repo, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, maxBuffer: 16 << 20 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const totes = (command: string, ...args: string[]) =>
  inCopy(['functions/cli/totes.cjs', command, '--lake', s.lakeDir, '--source-url', s.source.url, '--warehouse-url', s.warehouse.url, ...args]);

/** One pipeline cycle by the copy's CLI, with the oracle told what was extracted. */
async function cycle(): Promise<{ code: number; out: string }> {
  await s.beforeExtract();
  try {
    return await totes('run');
  } finally {
    await s.extracted();
  }
}

const warehouse = <T extends Record<string, unknown>>(sql: string): Promise<T[]> => s.warehouseSql<T>(sql);

const factTotals = () =>
  warehouse<{ n: number; ids: string; units: string }>('SELECT count(*)::int AS n, sum(sales_order_id)::text AS ids, sum(units_sold)::text AS units FROM fact_sales_order');

beforeAll(async () => {
  s = await openScenario('column');
  // The analyst's checkout: the repository's code and SQL, with its dependencies.
  repo = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-new-column-'));
  for (const entry of ['functions', 'sql', 'package.json', 'tsconfig.json']) await fs.cp(path.join(REPO_ROOT, entry), path.join(repo, entry), { recursive: true });
  await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(repo, 'node_modules'));
  await fs.writeFile(path.join(s.lakeDir, '.totes-lake'), 'This folder is a Totes Lake: ingestion/ and processed/ are its two buckets.\n');
});
afterAll(async () => {
  await s?.close();
  if (repo) await fs.rm(repo, { recursive: true, force: true });
});

let before: { n: number; ids: string; units: string };

it('loads the history with the model as it is', async () => {
  for (const step of [0, 1]) {
    if (step) await s.sql(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = ${NOW} WHERE sales_order_id IN (1, 2)`);
    const result = await cycle();
    expect(result).toMatchObject({ code: 0 });
  }
  [before] = await factTotals();
  expect(before.n).toBeGreaterThan(30);
});

it('compiles a column declared in the model into the contract and a warehouse migration', async () => {
  const model = path.join(repo, 'sql/transform/fact_sales_order.yml');
  await fs.appendFile(model, '  - name: gross_value\n    type: numeric(10,2)\n    description: The order\'s gross value, units_sold × unit_price.\n    tests: [not_null]\n');
  // Before the generator runs, the transform refuses the model its contract does not match (the
  // batch is extracted, nothing is transformed).
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 5, last_updated = ${NOW} WHERE sales_order_id = 3`);
  const stale = await cycle();
  expect(stale.code).not.toBe(0);
  expect(stale.out).toMatch(/sql\/transform\/fact_sales_order\.yml \(adds gross_value\) differs from the star contract .*run `npm run generate`/);
  expect(await factTotals()).toEqual([before]);
  // Meanwhile the deployed code, still the old one (the repository's), transforms that batch with the
  // old SQL; it is loaded only after the new code arrives (below), from a file without the column.
  expect((await transformPending(s.ctx)).map((r) => r.manifest.star.fact_sales_order?.rows)).toEqual([1]);

  const sql = path.join(repo, 'sql/transform/fact_sales_order.sql');
  const text = await fs.readFile(sql, 'utf8');
  await fs.writeFile(sql, text.replace('  agreed_delivery_location_id\nFROM', '  agreed_delivery_location_id,\n  CAST(units_sold * unit_price AS decimal(10, 2)) AS gross_value\nFROM'));
  const generated = await inCopy(['node_modules/tsx/dist/cli.mjs', 'functions/build/generate-models.ts']); // npm run generate
  expect(generated).toMatchObject({ code: 0 });
  expect(generated.out).toContain('fact_sales_order gains gross_value (numeric(10,2)) → sql/warehouse/0005_fact_sales_order_gross_value.sql');
  expect(await fs.readFile(path.join(repo, 'functions/core/contract/star-models.generated.ts'), 'utf8')).toContain('"name":"gross_value"');
});

it('refuses to extend the fact with rows of the new version, naming the backfill', async () => {
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 7, last_updated = ${NOW} WHERE sales_order_id = 4`);
  const refused = await cycle();
  expect(refused.code).not.toBe(0);
  expect(refused.out).toMatch(/sql\/transform\/fact_sales_order\.sql changed since it built the published fact_sales_order/);
  expect(refused.out).toContain('totes backfill fact_sales_order');
  // Nothing of the new version reached the warehouse.
  expect(await factTotals()).toEqual([before]);
  // Another version arrives while the batch waits.
  await s.sql(`UPDATE sales_order SET units_sold = units_sold + 9, last_updated = ${NOW} WHERE sales_order_id = 5`);
  const again = await cycle();
  expect(again.code).not.toBe(0);
  expect(again.out).toContain('totes backfill fact_sales_order');
});

it('rebuilds every version with the new column in the lake and the warehouse, counts and key sums unchanged', async () => {
  const backfill = await totes('backfill', 'fact_sales_order');
  expect(backfill).toMatchObject({ code: 0 });
  // The warehouse: the migration added the column; every version has it, and the rows are the same.
  const columns = await warehouse<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'fact_sales_order_current' ORDER BY ordinal_position",
  );
  expect(columns.map((c) => c.column_name).at(-1)).toBe('gross_value');
  // The rows are those before, and the version of order 3 the old code built, which the backfill's
  // load took first (without the column: NULL) and then rebuilt with it.
  expect(await factTotals()).toEqual([{ n: before.n + 1, ids: String(BigInt(before.ids) + 3n), units: expect.any(String) }]);
  const [values] = await warehouse<{ missing: number; wrong: number }>(
    'SELECT count(*) FILTER (WHERE gross_value IS NULL)::int AS missing, count(*) FILTER (WHERE gross_value <> units_sold * unit_price)::int AS wrong FROM fact_sales_order',
  );
  expect(values).toEqual({ missing: 0, wrong: 0 });
  // The lake: every version rebuilt by the new file, with the column.
  const lake = await totes('query', '--json', 'SELECT count(*) AS n, count(gross_value) AS valued, count(DISTINCT _sql_hash) AS versions, sum(sales_order_id) AS ids FROM fact_sales_order');
  expect(lake.code).toBe(0);
  expect(lake.out).toMatch(new RegExp(`"n":\\s*"?${before.n + 1}"?`));
  expect(lake.out).toMatch(new RegExp(`"valued":\\s*"?${before.n + 1}"?`));
  expect(lake.out).toMatch(/"versions":\s*"?1"?/);
});

it('applies the batches that waited after the backfill, exactly once, with the column', async () => {
  expect((await cycle()).code).toBe(0);
  const rows = await warehouse<{ id: number; versions: number; valued: number }>(
    'SELECT sales_order_id AS id, count(*)::int AS versions, count(gross_value)::int AS valued FROM fact_sales_order WHERE sales_order_id IN (3, 4, 5) GROUP BY 1 ORDER BY 1',
  );
  expect(rows).toEqual([3, 4, 5].map((id) => ({ id, versions: 2, valued: 2 })));
  const [after] = await factTotals();
  expect(after.n).toBe(before.n + 3);
  // Every version in the lake and the warehouse exactly once (the audit-trigger oracle), and a clean verify.
  expect(await s.check()).toEqual([]);
});

describe('a new source column', () => {
  it('is reported and not extracted until the source contract has it', async () => {
    await s.sql('ALTER TABLE design ADD COLUMN colour text');
    await s.sql(`UPDATE design SET colour = 'red', last_updated = ${NOW} WHERE design_id = 1`);
    const result = await cycle();
    expect(result.code).toBe(0);
    expect(result.out).toContain('column design.colour is new in the source and is not extracted');
  });

  it('becomes available by adding it to the source contract; its history starts at the first batch that carries it', async () => {
    const contract = path.join(repo, 'functions/core/contract/source-tables.ts');
    const text = await fs.readFile(contract, 'utf8');
    const declared = "      text('file_name', 'Design file name.'),\n      ...audit,\n";
    expect(text).toContain(declared);
    await fs.writeFile(contract, text.replace(declared, `${declared}      text('colour', 'Colour of the design, since totesys has it.', true),\n`));
    await fs.appendFile(path.join(repo, 'sql/transform/dim_design.yml'), '  - name: colour\n    type: text\n    description: Colour of the design; NULL for a design not changed since totesys gained it.\n');
    const sql = path.join(repo, 'sql/transform/dim_design.sql');
    await fs.writeFile(sql, (await fs.readFile(sql, 'utf8')).replace('  file_name\nFROM current_design', '  file_name,\n  colour\nFROM current_design'));
    const generated = await inCopy(['node_modules/tsx/dist/cli.mjs', 'functions/build/generate-models.ts']);
    expect(generated).toMatchObject({ code: 0 });
    expect(generated.out).toContain('dim_design gains colour (text) → sql/warehouse/0006_dim_design_colour.sql');

    await s.sql(`UPDATE design SET colour = 'blue', last_updated = ${NOW} WHERE design_id = 2`);
    const result = await cycle();
    expect(result).toMatchObject({ code: 0 });
    // Design 2's new version carries its colour; design 1's red version was extracted before the
    // contract had the column, so the lake never held it: NULL, like every design not changed since.
    const designs = await warehouse<{ design_id: number; colour: string | null }>('SELECT design_id, colour FROM dim_design WHERE design_id <= 3 ORDER BY design_id');
    expect(designs).toEqual([{ design_id: 1, colour: null }, { design_id: 2, colour: 'blue' }, { design_id: 3, colour: null }]);
    const lake = await totes('query', '--json', 'SELECT design_id, colour FROM current_design WHERE design_id <= 2 ORDER BY design_id');
    expect(lake.code).toBe(0);
    expect(JSON.parse(lake.out.trim().split('\n').at(-1)!)).toEqual([{ design_id: 1, colour: null }, { design_id: 2, colour: 'blue' }]);
    expect(await s.check()).toEqual([]);
  });
});
