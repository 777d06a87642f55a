/**
 * Operate and explore, end to end through the real `totes` CLI on embedded databases: after a seed
 * and three cycles (full, incremental, nothing new) —
 *  - the run history holds one record per cycle with the right outcome, rows and freshness;
 *  - `totes status --json` agrees with the lake and the warehouse, and exits 2 past the SLA; it
 *    reads the newest manifests only, and a lake whose manifests predate their history reads the same;
 *  - `totes docs` writes a static site that headless Chromium renders, with every star table, the
 *    lineage and the charts (screenshots kept in TOTES_DOCS_SCREENSHOTS or the temp folder);
 *  - every `sql/analysis/*.sql` query gives the same answer from the lake (DuckDB) and the
 *    warehouse (PostgreSQL), and parses as Trino SQL; so do the current-state views.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Parser } from 'node-sql-parser';
import { STAR_TABLES } from '../../../functions/core/contract/star-tables';
import { athenaCurrentViewDdl, CURRENT_VIEWS, withCurrentViews } from '../../../functions/core/analysis/current-views';
import { readRunHistory } from '../../../functions/core/operate/run-history';
import { extractManifestKey, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import { readPipelineStatus, type PipelineStatus } from '../../../functions/core/operate/pipeline-status';
import { lakeBindings } from '../../../functions/core/transform/lake-bindings';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { openFolderPipeline } from '../../../functions/local/folder-pipeline';
import { itRequiring } from '../../support/requires';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'functions/cli/totes.cjs');
jest.setTimeout(300_000);

let parent = '';
let lake = '';
/** The warehouse: a real PostgreSQL server where one can start (test/support/test-postgres.ts); totesys stays embedded. */
let warehouse: TestDatabase | undefined;

/** Runs `totes <args>`; resolves with exit code and output (a non-zero exit is an answer, not a failure). */
function totes(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOTES_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--lake', lake, '--warehouse-url', warehouse!.url], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 200_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await totes(args);
  if (r.code !== 0) throw new Error(`totes ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`.slice(0, 6000));
  return r.stdout;
}

beforeAll(async () => {
  parent = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-operate-'));
  lake = path.join(parent, 'lake');
  warehouse = await testDatabase('totes_operate');
  await ok(['seed', '--scale', '0.1']);
  await ok(['run']);
  await ok(['simulate', '--minutes', '60', '--seed', '7']);
  await ok(['run']);
  await ok(['run']);
});

afterAll(async () => {
  await warehouse?.close();
  if (parent) await fs.rm(parent, { recursive: true, force: true });
});

const processed = () => new FolderObjectStore(path.join(lake, 'processed'));

describe('run history', () => {
  it('records every cycle: two batches, then nothing new', async () => {
    const { records, unreadable } = await readRunHistory(processed());
    expect(unreadable).toEqual([]);
    expect(records.map((r) => r.outcome)).toEqual(['success', 'success', 'nothing-new']);
    expect(records[0].key).toMatch(/^runs\/\d{8}T\d{6}\.\d{3}Z-0000000001-/);
    expect(records[2].key).toMatch(/-noop\.json$/);
    expect(records[2].batchId).toBeNull();
    for (const r of records) {
      expect(Object.keys(r.stages).sort()).toEqual(['extract', 'load', 'transform']);
      expect(r.freshness?.seconds).toBeGreaterThanOrEqual(0);
    }
    expect(records[0].stages.extract!.rows.sales_order).toBeGreaterThan(0);
    expect(records[1].stages.load!.batches.map((b) => b.seq)).toEqual([2]);
    // Each transformed batch's engine round trips, as its manifest has them (DuckDB: bytes unknown).
    for (const [i, seq] of [[0, 1], [1, 2]] as const) {
      const manifest = JSON.parse(await fs.readFile(path.join(lake, 'processed', 'manifests', 'transform', `${String(seq).padStart(10, '0')}.json`), 'utf8')) as { engineQueries?: unknown };
      expect(records[i].stages.transform!.batches.map((b) => b.engineQueries)).toEqual([manifest.engineQueries]);
      expect(manifest.engineQueries).toEqual({ queries: expect.any(Number), criticalPath: expect.any(Number), bytesScanned: null });
    }
    expect(records[2].stages.transform!.batches).toEqual([]);
  });
});

describe('totes status', () => {
  it('reports per table what the lake and the warehouse hold, and exits 0 within the SLA', async () => {
    const r = await totes(['status', '--json', '--sla', '1h']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as PipelineStatus;
    expect(status.problems).toEqual([]);
    expect(status.sla.breached).toBe(false);
    expect(status.batches.loaded?.seq).toBe(2);
    expect(status.runs).toHaveLength(3);
    for (const t of status.sourceTables) {
      expect(t.sourceRows).toBe(t.lakeCurrentRows);
      expect(t.cursor).not.toBeNull();
    }
    for (const t of status.starTables) {
      expect({ table: t.table, rows: t.warehouseRows }).toEqual({ table: t.table, rows: t.lakeRows });
    }
  });

  it('reads the newest manifests, not the logs, and tells what the logs read whole tell', async () => {
    // Every manifest a status reads, by key (a status used to read all of both logs: after a month
    // on S3, 17,000 reads), and where each listing of a log starts.
    const reads: string[] = [];
    const listings: string[] = [];
    const reading = (root: string): FolderObjectStore => {
      const store = new FolderObjectStore(root);
      const get = store.get.bind(store);
      const list = store.list.bind(store);
      store.get = (key: string) => {
        if (key.startsWith('manifests/')) reads.push(key);
        return get(key);
      };
      store.list = (prefix: string, options?: { startAfter?: string }) => {
        if (prefix.startsWith('manifests/')) listings.push(`${prefix} after ${options?.startAfter ?? 'nothing'}`);
        return list(prefix, options);
      };
      return store;
    };
    const statusOf = (dir: string): Promise<PipelineStatus> =>
      readPipelineStatus({
        ingestion: reading(path.join(dir, 'ingestion')),
        processed: reading(path.join(dir, 'processed')),
        warehouseUrl: async () => warehouse!.url,
        warehouseSchema: 'public',
        now: new Date(),
        slaSeconds: 3600,
        runs: 0,
      });
    const recorded = await statusOf(lake);
    expect(recorded.problems).toEqual([]);
    expect([...new Set(reads)].sort()).toEqual([extractManifestKey(2), transformManifestKey(2)]);
    // Both logs listed from the newest loaded batch (seq 2) on.
    expect(listings).toEqual([`manifests/extract/ after ${extractManifestKey(1)}`, `manifests/transform/ after ${transformManifestKey(1)}`]);
    // The same lake with manifests from before they recorded the lake's history: its logs are read whole.
    const older = path.join(parent, 'lake-without-histories');
    await fs.cp(lake, older, { recursive: true });
    for (const key of [extractManifestKey(1), extractManifestKey(2)].map((k) => path.join(older, 'ingestion', k)).concat([transformManifestKey(1), transformManifestKey(2)].map((k) => path.join(older, 'processed', k)))) {
      const { history, ...manifest } = JSON.parse(await fs.readFile(key, 'utf8')) as { history?: unknown };
      expect(history).toBeDefined();
      await fs.writeFile(key, JSON.stringify(manifest));
    }
    reads.length = 0;
    const folded = await statusOf(older);
    expect(reads).toEqual(expect.arrayContaining([extractManifestKey(1), transformManifestKey(1)]));
    expect(folded.sourceTables).toEqual(recorded.sourceTables);
    expect(folded.starTables).toEqual(recorded.starTables);
    expect(recorded.sourceTables.find((t) => t.table === 'sales_order')?.lakeVersions).toBeGreaterThan(recorded.sourceTables.find((t) => t.table === 'sales_order')!.lakeCurrentRows!);
  });

  it('exits 2 when freshness is past the SLA, and prints a readable table without --json', async () => {
    const r = await totes(['status', '--sla', '1ms', '--skip-source']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Freshness SLA breached/);
    expect(r.stdout).toMatch(/== Star tables ==/);
    for (const t of STAR_TABLES) expect(r.stdout).toContain(t.name);
    // The runs' engine round trips: a header, and the count of each run that transformed a batch.
    const { records } = await readRunHistory(processed());
    expect(r.stdout).toMatch(/queries\s.*scanned/);
    for (const record of records.slice(0, 2)) {
      const counted = record.stages.transform!.batches[0].engineQueries!;
      expect(r.stdout).toContain(`${counted.queries} (critical path ${counted.criticalPath})`);
    }
  });
});

describe('totes docs', () => {
  let out = '';
  beforeAll(async () => {
    out = path.join(parent, 'docs');
    await ok(['docs']);
  });

  it('writes every page beside the lake by default, with every star table, the lineage and the charts', async () => {
    const read = (p: string) => fs.readFile(path.join(out, p), 'utf8');
    const tables = await read('tables.html');
    for (const t of STAR_TABLES) {
      expect(tables).toContain(`id="t-${t.name}"`);
      for (const c of t.columns) expect(tables).toContain(`<code>${c.name}</code>`);
      // The model beside the SQL, and the tests it declares.
      expect(tables).toContain(`Model: <code>sql/transform/${t.name}.yml</code>`);
    }
    expect(tables).toContain('<code>accepted_values(transaction_type)</code>');
    expect(tables).toContain('<code>one row per version of payment extracted</code>');
    const lineage = await read('lineage.html');
    expect(lineage).toContain('<svg id="lineage"');
    expect(lineage).toMatch(/current_sales_order|raw_sales_order/);
    for (const t of STAR_TABLES) expect(lineage).toContain(`sql/transform/${t.name}.sql`);
    const history = await read('history.html');
    expect(history.match(/<rect class="bar"/g)?.length).toBeGreaterThanOrEqual(2);
    expect(history.match(/<circle class="pt"/g)).toHaveLength(3);
    const index = await read('index.html');
    expect(index).toContain('<svg id="star-schema"');
    for (const html of [tables, lineage, history, index]) expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  const noChromium = chromium ? undefined : 'Chromium is not installed; run `bash test/support/install-chromium.sh`';
  itRequiring('renders in headless Chromium: screenshots of each page, and the rendered DOM has the tables, lineage and charts', noChromium, async () => {
    const shots = process.env.TOTES_DOCS_SCREENSHOTS ?? path.join(parent, 'screenshots');
    await fs.mkdir(shots, { recursive: true });
    const flags = (profile: string) => [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${path.join(parent, `chromium-${profile}`)}`,
    ];
    for (const page of ['index', 'tables', 'raw', 'lineage', 'history', 'analysis']) {
      const url = `file://${path.join(out, `${page}.html`)}`;
      const png = path.join(shots, `${page}.png`);
      execFileSync(chromium!, [...flags(page), '--window-size=1280,1800', `--screenshot=${png}`, url], { stdio: 'pipe', timeout: 60_000 });
      expect((await fs.stat(png)).size).toBeGreaterThan(20_000);
      const dom = execFileSync(chromium!, [...flags(`${page}-dom`), '--dump-dom', url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
      expect(dom).toContain(`id="page-${page}"`);
      if (page === 'tables') for (const t of STAR_TABLES) expect(dom).toContain(`id="t-${t.name}"`);
      if (page === 'lineage') expect(dom).toContain('id="lineage"');
      if (page === 'history') for (const id of ['chart-rows-per-batch', 'chart-freshness', 'chart-stage-durations']) expect(dom).toContain(`id="${id}"`);
      if (page === 'index') for (const t of STAR_TABLES) expect(dom).toContain(`id="diagram-${t.name}"`);
    }
    process.stdout.write(`docs screenshots in ${shots}\n`);
  });
});

describe('analyst layer', () => {
  const trino = new Parser();
  const analysis = fs.readdir(path.join(ROOT, 'sql', 'analysis')).then((names) => names.filter((n) => n.endsWith('.sql')).sort());

  /** Values compared as text: numbers by value (DuckDB and PostgreSQL print decimals and bigints differently). */
  const canonical = (rows: Record<string, unknown>[]) =>
    rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [k, v === null ? null : typeof v === 'number' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) ? String(Number(v)) : String(v)]),
      ),
    );

  it('answers every sql/analysis query the same from the lake (DuckDB) and the warehouse (PostgreSQL)', async () => {
    const files = await analysis;
    expect(files.length).toBeGreaterThanOrEqual(4);
    const lakePipeline = await openFolderPipeline({ lake });
    const { engine } = lakePipeline.ctx;
    const client = new pg.Client({ connectionString: warehouse!.url });
    await client.connect();
    try {
      const bindings = await lakeBindings(lakePipeline.ctx);
      for (const file of files) {
        const sql = await fs.readFile(path.join(ROOT, 'sql', 'analysis', file), 'utf8');
        const fromLake = canonical(await engine.query(withCurrentViews(sql), bindings));
        const fromWarehouse = canonical((await client.query(sql)).rows);
        expect(fromLake.length).toBeGreaterThan(0);
        expect({ file, rows: fromLake }).toEqual({ file, rows: fromWarehouse });
      }
      for (const view of CURRENT_VIEWS) {
        const count = `SELECT count(*) AS n, count(DISTINCT ${view.fact.key[0]}) AS ids FROM ${view.name}`;
        const [lakeCount] = canonical(await engine.query(withCurrentViews(count), bindings));
        const [whCount] = canonical((await client.query(count)).rows);
        expect(lakeCount).toEqual(whCount);
        expect(lakeCount.n).toBe(lakeCount.ids);
      }
    } finally {
      await client.end();
      await lakePipeline.close();
    }
  });

  it('parses as Trino SQL: the analysis queries and the Athena view DDL', async () => {
    for (const file of await analysis) {
      const sql = await fs.readFile(path.join(ROOT, 'sql', 'analysis', file), 'utf8');
      expect(() => trino.astify(sql, { database: 'trino' })).not.toThrow();
    }
    for (const ddl of athenaCurrentViewDdl('totes_processed')) {
      expect(() => trino.astify(ddl.replace(/^CREATE OR REPLACE VIEW \S+ AS\n/, ''), { database: 'trino' })).not.toThrow();
      expect(ddl).toMatch(/^CREATE OR REPLACE VIEW totes_processed\.fact_\w+_current AS\nSELECT /);
      expect(ddl).toContain('FROM totes_processed.fact_');
    }
  });
});
