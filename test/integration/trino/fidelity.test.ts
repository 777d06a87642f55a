import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { SOURCE_TABLES } from '../../../functions/core/contract/source-tables';
import { lakeTrinoType, STAR_TABLES, starTable } from '../../../functions/core/contract/star-tables';
import { extract } from '../../../functions/core/extract/extract';
import { currentLocations, readExtractManifest, readTransformManifest } from '../../../functions/core/lake/manifest-log';
import { currentPrefix } from '../../../functions/core/lake/lake-layout';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import type { QueryEngine, RelationBindings, WriteTarget } from '../../../functions/core/ports/query-engine';
import { currentStateSql } from '../../../functions/core/transform/current-state';
import { transformPending } from '../../../functions/core/transform/transform';
import { backfill } from '../../../functions/core/transform/backfill';
import { DUCKDB_TRINO_MACROS } from '../../../functions/engines/duckdb/client';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { openFolderPipeline, type EngineFactory } from '../../../functions/local/folder-pipeline';
import { dimensionBindings } from '../../../functions/core/transform/dimension-by-key';
import { seedTotesys } from '../../../functions/totesys/seed';
import { simulateActivity } from '../../../functions/totesys/simulate';
import { createTrinoEngine, TrinoQueryError } from '../../../functions/engines/trino/engine';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';
import { describeRequiring } from '../../support/requires';
import { startTrino, trinoSkipReason, type TrinoTestServer } from '../../support/trino-server';
import { parquetTypes, readStarRows, rowDifferences } from './star-outputs';
import { stopwatch } from '../../support/timed';

/**
 * The transform proven on the engine Athena runs: the same raw lake (seeded totesys, extracted by
 * the real extract) transformed by DuckDB and by a real Trino through the Athena statement
 * generator, a full batch and then an incremental one; every star table must come out the same,
 * row for row, read back the way the warehouse load reads it (types, decimals, dates, NULLs).
 */

const REPO = path.resolve(__dirname, '../../..');
const skipReason = trinoSkipReason();
const describeTrino = (name: string, fn: jest.EmptyFunction) => describeRequiring(name, skipReason, fn);

interface Side {
  name: string;
  engine: QueryEngine;
  processed: FolderObjectStore;
  ctx: PipelineContext;
  close(): Promise<void>;
}

const { timings, timed } = stopwatch();
const statements: { context: string; elapsedMs: number }[] = [];

describeTrino('Trino fidelity: DuckDB and Trino build the same star schema', () => {
  const suiteStarted = Date.now();
  let trino: TrinoTestServer;
  let db: TestDatabase;
  let ingestion: FolderObjectStore;
  let duck: Side;
  let tri: Side;

  beforeAll(async () => {
    [trino, db] = await Promise.all([timed('trino start', () => startTrino({ schema: 'fidelity' })), testDatabase('trino_fidelity')]);
    timings['trino start (server clock)'] = trino.startMs;
    await timed('seed', () => seedTotesys(db.url, { scale: 0.05, seed: 7, asOf: new Date('2025-01-15T12:00:00.000Z') }));
    await withClient(db.url, (c) => c.query(TRICKY_ROWS));

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-trino-fidelity-'));
    ingestion = new FolderObjectStore(path.join(dir, 'ingestion'));
    // Two pipelines over one ingestion folder, each with its own processed folder.
    const side = async (name: string, engine?: EngineFactory): Promise<Side> => {
      const pipeline = await openFolderPipeline({
        lake: { ingestion: ingestion.root, processed: path.join(dir, `processed-${name}`) },
        engine,
        source: db.url,
        // Current states in deltas from the second batch on, compacted at their second change: the
        // third batch reads base + delta and compacts through the segment merge on both engines.
        compaction: { compactBelowRows: 0, maxDeltas: 1, maxDeltaFraction: Number.POSITIVE_INFINITY },
      });
      return { name, engine: pipeline.ctx.engine, processed: pipeline.stores.processed, ctx: pipeline.ctx, close: pipeline.close };
    };
    duck = await side('duckdb');
    tri = await side('trino', (stores) =>
      createTrinoEngine({ url: trino.url, ...stores, localRoot: trino.localRoot, onStatement: (e) => statements.push(e) }),
    );
  }, 900_000);

  afterAll(async () => {
    await duck?.close();
    await tri?.close();
    await Promise.all([trino?.stop(), db?.close()]);
    timings['whole file'] = Date.now() - suiteStarted;
    const kinds = new Map<string, { n: number; ms: number }>();
    for (const s of statements) {
      const kind = s.context.replace(/ (of|as) .*$/, '').replace(/\(.*$/, '').trim();
      const k = kinds.get(kind) ?? { n: 0, ms: 0 };
      kinds.set(kind, { n: k.n + 1, ms: k.ms + s.elapsedMs });
    }
    console.log(`Trino fidelity timings (ms): ${JSON.stringify(timings)}\nTrino statements by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);
  });

  /** Transforms the pending batches on both engines and compares every published star table. */
  async function transformAndCompare(label: string): Promise<void> {
    const duckResults = await timed(`${label}: duckdb transform`, () => transformPending(duck.ctx));
    const trinoResults = await timed(`${label}: trino transform`, () => transformPending(tri.ctx));
    expect(trinoResults.map((r) => r.batchId)).toEqual(duckResults.map((r) => r.batchId));
    expect(duckResults.length).toBeGreaterThan(0);
    // One planner for every engine: the same statements on both; only Trino measures the bytes it
    // scanned (core/transform/query-tally.ts). The critical path may differ where more independent
    // statements wait than run at once (core/transform/concurrently.ts): which one a waiting
    // statement follows depends on which finished first, and Trino really runs them together.
    expect(trinoResults.map((r) => r.manifest.engineQueries?.queries)).toEqual(duckResults.map((r) => r.manifest.engineQueries?.queries));
    for (const r of duckResults) expect(r.manifest.engineQueries).toEqual({ queries: expect.any(Number), criticalPath: expect.any(Number), bytesScanned: null });
    for (const r of [...duckResults, ...trinoResults]) {
      expect(r.manifest.engineQueries!.criticalPath).toBeGreaterThan(0);
      // A batch that changes only a dimension's source is one chain (its state, the dimension, its
      // change set, the tests of the dimension and the facts' row counts in one query); the others
      // send independent statements together.
      if (label === 'dimension only') expect(r.manifest.engineQueries!.criticalPath).toBeLessThanOrEqual(r.manifest.engineQueries!.queries);
      else expect(r.manifest.engineQueries!.criticalPath).toBeLessThan(r.manifest.engineQueries!.queries);
    }
    for (const r of trinoResults) expect(r.manifest.engineQueries?.bytesScanned).toBeGreaterThan(0);
    console.log(`${label}: engine queries per batch (DuckDB / Trino): ${JSON.stringify(duckResults.map((r) => r.manifest.engineQueries))} / ${JSON.stringify(trinoResults.map((r) => r.manifest.engineQueries))}`);

    for (const table of STAR_TABLES) {
      const published = async (side: Side): Promise<string[]> =>
        table.kind === 'fact'
          ? (await side.ctx.catalog.partitions(table.name)).map((p) => p.prefix)
          : [(await side.ctx.catalog.location(table.name))!.prefix];
      const duckPrefixes = await published(duck);
      expect(await published(tri)).toEqual(duckPrefixes);
      const [duckRows, trinoRows] = await Promise.all([readStarRows(duck.processed, table.name, duckPrefixes), readStarRows(tri.processed, table.name, duckPrefixes)]);
      const diff = rowDifferences(duckRows, trinoRows);
      expect({ table: table.name, rows: trinoRows.length, ...diff }).toEqual({ table: table.name, rows: duckRows.length, onlyLeft: [], onlyRight: [], leftCount: 0, rightCount: 0 });

      const [duckTypes, trinoTypes] = await Promise.all([parquetTypes(duck.processed, table.name, duckPrefixes), parquetTypes(tri.processed, table.name, duckPrefixes)]);
      expect({ table: table.name, types: trinoTypes }).toEqual({ table: table.name, types: duckTypes });
    }

    // The current states, base and deltas read as one: the same version (key and batch) of every row.
    const seq = duckResults.at(-1)!.seq;
    for (const table of SOURCE_TABLES) {
      const versions = async (side: Side): Promise<string[]> => {
        const manifest = await readTransformManifest(side.processed, seq);
        const sql = `SELECT CAST(${table.primaryKey} AS varchar) || '@' || _batch_id AS v FROM current_${table.name}`;
        const rows = await side.engine.query(sql, { batch: {}, current: { [table.name]: currentLocations(manifest)[table.name] }, star: {} });
        return rows.map((r) => String(r.v)).sort();
      };
      const [duckVersions, trinoVersions] = await Promise.all([versions(duck), versions(tri)]);
      expect({ table: table.name, versions: trinoVersions }).toEqual({ table: table.name, versions: duckVersions });
    }
  }

  test('a full batch: every star table is equal row for row', async () => {
    const first = await timed('extract 1', () => extract(duck.ctx));
    expect(first.published).toBe(true);
    await transformAndCompare('full');

    // The comparison is only as good as the data: the tricky values are there, on both sides.
    const prefix = (await duck.ctx.catalog.location('dim_currency'))!.prefix;
    const currencies = await readStarRows(tri.processed, 'dim_currency', [prefix]);
    expect(currencies.map((c) => [c.currency_code, c.currency_name])).toEqual(
      expect.arrayContaining([['GBP', 'Pound Sterling'], ['USD', 'US Dollar'], ['EUR', 'Euro'], ['JPY', null]]),
    );
    const dates = await readStarRows(tri.processed, 'dim_date', [(await tri.ctx.catalog.location('dim_date'))!.prefix]);
    expect(dates.find((d) => d.date_id === '2024-02-29')).toMatchObject({ day_of_week: 4, day_name: 'Thursday', month_name: 'February', quarter: 1 });
    expect(dates.find((d) => d.date_id === '2024-03-31')).toMatchObject({ day_of_week: 7, day_name: 'Sunday' });
    const sales = await readStarRows(tri.processed, 'fact_sales_order', (await tri.ctx.catalog.partitions('fact_sales_order')).map((p) => p.prefix));
    expect(sales).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ last_updated_date: '2024-03-31', last_updated_time: '01:30:00.000', unit_price: '0.01', agreed_payment_date: '2031-12-31' }),
        expect.objectContaining({ created_time: '23:59:59.999', last_updated_time: '00:00:00.000', unit_price: '99999999.99', units_sold: 2147483647 }),
      ]),
    );
    const locations = await readStarRows(tri.processed, 'dim_location', [(await tri.ctx.catalog.location('dim_location'))!.prefix]);
    expect(locations.some((l) => l.address_line_2 === null)).toBe(true);
  });

  test('an incremental batch: amendments, payments paid, department moves, NULLed values', async () => {
    await withClient(db.url, async (c) => {
      await simulateActivity(db.url, { minutes: 60, seed: 3 });
      await c.query(INCREMENTAL_ROWS);
    });
    const second = await timed('extract 2', () => extract(duck.ctx));
    expect(second.published).toBe(true);
    await transformAndCompare('incremental');
    expect(Object.keys((await readTransformManifest(tri.processed, second.seq)).currentDeltas ?? {})).toEqual(expect.arrayContaining(['sales_order', 'department', 'address']));
    const staff = await readStarRows(tri.processed, 'dim_staff', [(await tri.ctx.catalog.location('dim_staff'))!.prefix]);
    expect(staff.some((s) => s.location === null)).toBe(true);
  });

  test('a batch that changes no fact: empty fact outputs, dimensions rebuilt', async () => {
    await withClient(db.url, (c) => c.query(DIMENSION_ONLY_ROWS));
    const third = await timed('extract 3', () => extract(duck.ctx));
    expect(third.published).toBe(true);
    expect(third.rows.sales_order ?? 0).toBe(0);
    await transformAndCompare('dimension only');
    const manifest = await readTransformManifest(tri.processed, third.seq);
    expect(manifest.star.fact_sales_order.rows).toBe(0);
    expect(manifest.star.dim_staff.rows).toBeGreaterThan(0);
  });

  test('a deliberate divergence is caught: a DuckDB-only function, and a cast that means something else', async () => {
    const extractManifest = await readExtractManifest(ingestion, 1);
    const bindingsOf = async (side: Side): Promise<RelationBindings> => ({
      batch: Object.fromEntries(SOURCE_TABLES.map((t) => [t.name, extractManifest.tables[t.name]?.files.map((f) => f.key) ?? []])),
      current: (await readTransformManifest(side.processed, 1)).current,
      star: { dim_date: [] },
    });
    const target = (table: string, prefix: string): WriteTarget => ({
      table,
      prefix,
      // Lineage columns are not listed: the engine fills them with this write's batch and hash.
      columns: starTable(table).columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) })),
      batchId: extractManifest.batchId,
      sqlHash: 'divergence',
      origin: 'a divergent copy',
    });
    const original = (name: string): Promise<string> => fs.readFile(path.join(REPO, 'sql/transform', `${name}.sql`), 'utf8');

    // 1. isodow() is DuckDB's; Trino refuses the statement.
    const dimDate = (await original('dim_date')).replace(/day_of_week\(date_id\) AS day_of_week/, 'isodow(date_id) AS day_of_week');
    expect(dimDate).toContain('isodow(');
    await duck.engine.write(dimDate, await bindingsOf(duck), target('dim_date', 'divergence/dim_date/'));
    await expect(tri.engine.write(dimDate, await bindingsOf(tri), target('dim_date', 'divergence/dim_date/'))).rejects.toThrow(TrinoQueryError);
    await expect(tri.engine.write(dimDate, await bindingsOf(tri), target('dim_date', 'divergence/dim_date/'))).rejects.toThrow(/isodow/);

    // 2. Both engines run a timestamp cast to varchar, but DuckDB drops a zero fraction: the comparison fails.
    const facts = (await original('fact_sales_order')).replace(
      "format_datetime(last_updated, 'HH:mm:ss.SSS') AS last_updated_time",
      'substr(CAST(last_updated AS varchar), 12) AS last_updated_time',
    );
    expect(facts).toContain('substr(');
    const prefix = 'divergence/fact_sales_order/';
    await duck.engine.write(facts, await bindingsOf(duck), target('fact_sales_order', prefix));
    await tri.engine.write(facts, await bindingsOf(tri), target('fact_sales_order', prefix));
    const diff = rowDifferences(await readStarRows(duck.processed, 'fact_sales_order', [prefix]), await readStarRows(tri.processed, 'fact_sales_order', [prefix]));
    // Rows whose milliseconds end in zero differ: DuckDB '01:30:00' / '14:20:49.5', Trino '01:30:00.000' / '14:20:49.500'.
    expect(diff.leftCount).toBeGreaterThan(0);
    expect(diff.rightCount).toBe(diff.leftCount);
    expect(diff.onlyLeft.every((r) => !/\.\d{3}$/.test(String(r.last_updated_time)))).toBe(true);
    expect(diff.onlyRight.every((r) => /\.\d{3}$/.test(String(r.last_updated_time)))).toBe(true);
  });

  test('the DuckDB compatibility macros mean on DuckDB what the Trino functions mean on Trino', async () => {
    const scalars = `
      SELECT format_datetime(ts, 'HH:mm:ss.SSS') AS time_of_day, CAST(ts AS date) AS d,
             year(CAST(ts AS date)) AS y, month(CAST(ts AS date)) AS m, day(CAST(ts AS date)) AS dd,
             day_of_week(CAST(ts AS date)) AS dow, quarter(CAST(ts AS date)) AS q,
             CAST(txt AS date) AS from_text
      FROM (VALUES
        (TIMESTAMP '2024-03-31 01:30:00.000', '2024-02-29'),
        (TIMESTAMP '2023-12-31 23:59:59.999', '1999-12-31'),
        (TIMESTAMP '2024-02-29 00:00:00.000', '2000-01-01'),
        (TIMESTAMP '2024-10-27 01:30:00.500', '2024-10-27'),
        (TIMESTAMP '2021-01-03 12:00:00.050', '2021-01-04'),
        (TIMESTAMP '2024-06-03 09:05:07.001', '2024-06-09')
      ) AS v (ts, txt)
      ORDER BY ts`;
    const sequences = `
      SELECT b.label, s.d
      FROM (VALUES
        ('leap', DATE '2024-02-27', DATE '2024-03-02'),
        ('year end', DATE '2023-12-30', DATE '2024-01-02'),
        ('one day', DATE '2024-05-05', DATE '2024-05-05'),
        ('null start', CAST(NULL AS date), DATE '2024-01-01')
      ) AS b (label, a, z)
      CROSS JOIN UNNEST(sequence(b.a, b.z)) AS s (d)
      ORDER BY b.label, s.d`;
    for (const sql of [scalars, sequences]) {
      const [onDuck, onTrino] = await Promise.all([duck.engine.query(sql), tri.engine.query(sql)]);
      expect(normalise(onTrino)).toEqual(normalise(onDuck));
      expect(onDuck.length).toBeGreaterThan(0);
    }
    const weekdays = normalise(await tri.engine.query(scalars)).map((r) => [r.d, r.dow]);
    expect(weekdays).toContainEqual(['2024-03-31', '7']);
    expect(weekdays).toContainEqual(['2024-02-29', '4']);
    // Every macro the DuckDB engine registers is exercised above.
    for (const macro of DUCKDB_TRINO_MACROS) expect(scalars + sequences).toContain(`${macro.name}(`);
  });

  test('every function the transform SQL calls is on the list in sql/transform/FUNCTIONS.md', async () => {
    const doc = await fs.readFile(path.join(REPO, 'sql/transform/FUNCTIONS.md'), 'utf8');
    const listed = new Set<string>();
    for (const line of doc.split('\n').filter((l) => l.startsWith('| `'))) {
      const first = line.split('|')[1];
      for (const m of first.matchAll(/([a-z_]+)\s*\(/gi)) listed.add(m[1].toLowerCase());
    }
    expect(listed).toEqual(expect.objectContaining({ size: expect.any(Number) }));
    expect([...listed]).toEqual(expect.arrayContaining(['cast', 'format_datetime', 'sequence', 'unnest', 'day_of_week']));

    const files = (await fs.readdir(path.join(REPO, 'sql/transform'))).filter((f) => f.endsWith('.sql'));
    const sources = await Promise.all(files.map(async (f) => ({ origin: `sql/transform/${f}`, sql: await fs.readFile(path.join(REPO, 'sql/transform', f), 'utf8') })));
    for (const table of SOURCE_TABLES) sources.push({ origin: `generated current_${table.name}`, sql: currentStateSql(table, { hasPrevious: true }) });
    const unlisted: string[] = [];
    for (const { origin, sql } of sources) {
      for (const name of calledFunctions(sql)) if (!listed.has(name)) unlisted.push(`${origin}: ${name}()`);
    }
    expect(unlisted).toEqual([]);
  });

  test('dim_transaction was maintained by key in the incremental batch, equal to a whole rebuild, on both engines', async () => {
    // The by-key path (transform/dimension-by-key.ts): batch 2 wrote a transaction delta (new
    // transactions from simulateActivity), so dim_transaction's change set is dim_transaction.sql run
    // over that delta alone (its lineage names the file, not the EXCEPT of a whole rebuild), one row
    // per delta key, kept beside the previous base as a delta: merged, the dimension has those keys replaced.
    const file = (await loadSqlFiles(REPO)).find((f) => f.table.name === 'dim_transaction')!;
    const columns = starTable('dim_transaction').columns.map((c) => c.name).join(', ');
    for (const side of [duck, tri]) {
      const manifest = await readTransformManifest(side.processed, 2);
      const delta = manifest.currentDeltas?.transaction?.at(-1);
      expect({ side: side.name, delta: delta?.prefix }).toEqual({ side: side.name, delta: currentPrefix('transaction', manifest.batchId) });
      expect(delta!.rows).toBeGreaterThan(0);
      const dim = manifest.star.dim_transaction;
      expect({ side: side.name, changes: dim.changes?.rows, sqlHash: dim.sqlHash }).toEqual({ side: side.name, changes: delta!.rows, sqlHash: file.sqlHash });
      const lineage = await side.engine.query('SELECT DISTINCT _sql_hash AS h FROM dim_transaction', { batch: {}, current: {}, star: { dim_transaction: [dim.changes!.prefix] } });
      expect({ side: side.name, lineage: lineage.map((r) => r.h) }).toEqual({ side: side.name, lineage: [file.sqlHash] });

      const whole = await side.engine.query(`SELECT ${columns} FROM (${file.sql.replace(/--.*$/gm, '')}) AS whole`, {
        batch: {},
        current: { transaction: currentLocations(manifest).transaction },
        star: {},
      });
      // Base + deltas (the change set is its newest delta), merged by the same latestStarSql on both engines.
      expect({ side: side.name, newestDelta: dim.deltas?.at(-1)?.prefix }).toEqual({ side: side.name, newestDelta: dim.changes!.prefix });
      const built = await side.engine.query(`SELECT ${columns} FROM dim_transaction`, dimensionBindings('dim_transaction', dim));
      const text = (rows: Record<string, unknown>[]) => normalise(rows).map((r) => JSON.stringify(r)).sort();
      expect({ side: side.name, rows: built.length }).toEqual({ side: side.name, rows: whole.length });
      expect(text(built)).toEqual(text(whole));
    }
  });

  test('a backfill of a changed fact SQL file rebuilds the same history on both engines, lineage kept', async () => {
    // The change keeps the columns and their values (README, "Changing a model"): unit_price rounded explicitly.
    const sqlRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-trino-backfill-sql-'));
    await fs.cp(path.join(REPO, 'sql'), path.join(sqlRoot, 'sql'), { recursive: true });
    const factFile = path.join(sqlRoot, 'sql/transform/fact_sales_order.sql');
    await fs.writeFile(factFile, (await fs.readFile(factFile, 'utf8')).replace('  unit_price,\n', '  CAST(unit_price AS decimal(10, 2)) AS unit_price,\n'));
    const newHash = (await loadSqlFiles(sqlRoot)).find((f) => f.table.name === 'fact_sales_order')!.sqlHash;
    const before = await readStarRows(duck.processed, 'fact_sales_order', (await duck.ctx.catalog.partitions('fact_sales_order')).map((p) => p.prefix));
    for (const side of [duck, tri]) {
      const [result] = await timed(`${side.name} backfill`, () => backfill({ ...side.ctx, sqlRoot }, ['fact_sales_order'], { warehouse: false }));
      expect({ side: side.name, outcome: result.outcome, step: result.progress?.step }).toEqual({ side: side.name, outcome: 'rebuilt', step: 'published' });
    }
    const partitions = await duck.ctx.catalog.partitions('fact_sales_order');
    expect(await tri.ctx.catalog.partitions('fact_sales_order')).toEqual(partitions);
    expect(new Set(partitions.map((p) => p.sqlHash))).toEqual(new Set([newHash]));
    const prefixes = partitions.map((p) => p.prefix);
    const [duckRows, trinoRows] = await Promise.all([readStarRows(duck.processed, 'fact_sales_order', prefixes), readStarRows(tri.processed, 'fact_sales_order', prefixes)]);
    expect(rowDifferences(duckRows, trinoRows)).toEqual({ onlyLeft: [], onlyRight: [], leftCount: 0, rightCount: 0 });
    // The same rows, batch lineage included, as the batches built with the old file (the change keeps the values); only _sql_hash differs.
    const values = (rows: typeof before) => rows.map(({ _sql_hash: _hash, ...rest }) => rest);
    expect(rowDifferences(values(before), values(trinoRows))).toEqual({ onlyLeft: [], onlyRight: [], leftCount: 0, rightCount: 0 });
    for (const side of [duck, tri]) {
      const lineage = await side.engine.query('SELECT count(DISTINCT _batch_id) AS batches, count(DISTINCT _sql_hash) AS versions, min(_sql_hash) AS h FROM fact_sales_order', {
        batch: {},
        current: {},
        star: { fact_sales_order: prefixes },
      });
      expect({ side: side.name, lineage: normalise(lineage) }).toEqual({ side: side.name, lineage: [{ batches: String(partitions.length), versions: '1', h: newHash }] });
    }
    await fs.rm(sqlRoot, { recursive: true, force: true });
  });
});

/** Names called as functions: `name(` outside comments and string literals, SQL keywords excluded. */
function calledFunctions(sql: string): Set<string> {
  const code = sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/'(?:[^']|'')*'/g, "''").replace(/"(?:[^"]|"")*"/g, 'x');
  const keywords = new Set(['as', 'in', 'and', 'or', 'not', 'on', 'from', 'select', 'where', 'over', 'exists', 'values', 'with', 'join', 'when', 'then', 'else', 'by', 'all', 'distinct']);
  const names = new Set<string>();
  // `AS alias (column)` names the columns of an UNNEST, it calls nothing.
  for (const m of code.replace(/\bas\s+[a-z_][a-z0-9_]*\s*\(/gi, 'AS alias ').matchAll(/\b([a-z_][a-z0-9_]*)\s*\(/gi)) {
    const name = m[1].toLowerCase();
    if (!keywords.has(name)) names.add(name);
  }
  return names;
}

/** Rows as text, so DuckDB's and Trino's JSON encodings of the same value compare equal. */
function normalise(rows: Record<string, unknown>[]): Record<string, string | null>[] {
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)])));
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Values where engines are known to differ, added to the seeded history: an unknown currency, a
 * wall-clock time that does not exist in Europe/London (the spring DST gap), zero and 999
 * milliseconds, a leap day, the largest numeric(10,2) and integer, a far-future agreed date.
 */
const TRICKY_ROWS = `
  INSERT INTO currency (currency_code, created_at, last_updated) VALUES ('JPY', '2024-03-31 01:30:00.000', '2024-03-31 01:30:00.000');
  INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                           agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  VALUES ('2024-03-31 01:30:00.000', '2024-03-31 01:30:00.000', 1, 1, 1, 1, 0.01, 1, '2024-02-29', '2031-12-31', 1),
         ('2023-12-31 23:59:59.999', '2024-01-01 00:00:00.000', 1, 2, 2, 2147483647, 99999999.99, 2, '2024-12-30', '2024-12-29', 2);
`;

/** A batch of dimension changes only. */
const DIMENSION_ONLY_ROWS = `
  UPDATE department SET department_name = 'Renamed ' || department_name, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE department_id = 2;
`;

/** Changes the simulator does not make often enough to count on in one test burst. */
const INCREMENTAL_ROWS = `
  UPDATE department SET location = NULL, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE department_id = 1;
  UPDATE address SET district = NULL, address_line_2 = NULL, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE address_id = 2;
  UPDATE sales_order SET unit_price = 12.30, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE unit_price = 0.01;
`;
