/**
 * `npx tsx test/bench/year-lake.ts [--batches N] [--engines duckdb,trino] [--runs N] [--keep] [--reuse]`:
 * the lake at a year of age (issue 15, item 3; BENCHMARKS.md, "A year-old lake").
 *
 * Builds, directly in the lake layout (Parquet written by DuckDB, no pipeline cycles), a lake the
 * shape of a year of five-minute batches: 105,120 batches, each adding a partition `batch_id=<batch>`
 * with one file to each of the three facts (rows scaled down: 2 sales-order versions, 1 purchase-order
 * version and 2 payment versions a batch, a new row and an amendment of an older one, whose created
 * month is anywhere in the year), the dimensions, and the folder catalog pointing at all of it. Then
 * it measures the four sql/analysis/ queries and one date-bounded query:
 *  - before: every batch partition (what the lake was before functions/core/transform/fact-compaction.ts);
 *  - after: the facts compacted as the transform leaves them (every batch but the last hour's in
 *    month partitions, by the same `compactFact`, sql/compaction/<fact>.sql on DuckDB; the last
 *    hour's 12 batches still batch partitions);
 *  - floor: the same rows written as one compacted table (one file per fact).
 * On DuckDB through the engine and the catalog as `totes query` reads them; on Trino through Hive
 * tables as Glue holds them: before, a table partitioned by batch_id with every batch registered;
 * after, a table partitioned by created_month with the month partitions registered and the recent
 * batches beside it, read together by a view; floor, one unpartitioned table.
 * Prints a JSON line and, unless --no-results, adds `year_*` to bench/results.json.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { withCurrentViews } from '../../functions/core/analysis/current-views';
import { LINEAGE_COLUMNS, STAR_TABLES, lakeTrinoType, starTable, type StarTable } from '../../functions/core/contract/star-tables';
import { dimensionPrefix, FACT_MONTH_COLUMN, factTablePrefix } from '../../functions/core/lake/lake-layout';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { TableLocation } from '../../functions/core/ports/catalog';
import type { RelationBindings } from '../../functions/core/ports/query-engine';
import { silentLog } from '../../functions/core/ports/log';
import { compactFact, DEFAULT_FACT_COMPACTION, planFactCompaction } from '../../functions/core/transform/fact-compaction';
import { lakeBindings } from '../../functions/core/transform/lake-bindings';
import { DuckDbEngine } from '../../functions/engines/duckdb/engine';
import { duckdbTypeOfTrino } from '../../functions/engines/duckdb/relations';
import { TrinoClient } from '../../functions/engines/trino/client';
import { FolderCatalog } from '../../functions/local/folder-catalog';
import { FolderObjectStore } from '../../functions/local/folder-object-store';
import { unusedPort } from '../../functions/local/folder-pipeline';
import { launchTrino, trinoSkipReason } from '../support/trino-server';

const ROOT = path.resolve(__dirname, '..', '..');
const FACTS = STAR_TABLES.filter((t) => t.kind === 'fact');
const YEAR_OF_BATCHES = 365 * 288;
/** Batches of the last hour: still batch partitions in the steady state (the transform compacts hourly). */
const RECENT = 12;
const START = '2025-01-01 00:00:00';
/** Batches per COPY of the synthesized partitions. */
const COPY_SLICE = 2000;

export interface YearLakeOptions {
  batches?: number;
  engines?: readonly ('duckdb' | 'trino')[];
  runs?: number;
  dir?: string;
  keep?: boolean;
  /** Measure the lake an earlier run kept (`--keep`) in `dir` instead of building a new one (compacting what is not compacted yet). */
  reuse?: boolean;
  log?: (message: string) => void;
}

type Layout = 'before' | 'after' | 'floor';
interface EngineTimes {
  /** Per layout, per query: the median of the runs, in ms. */
  ms: Record<Layout, Record<string, number>>;
  /** Per layout: the four analysis queries summed. */
  analysis_ms: Record<Layout, number>;
  query_ratio_after: number;
  query_ratio_before: number;
  date_query_ratio_after: number;
  date_query_ratio_before: number;
}

export interface YearLakeResult {
  batches: number;
  fact_rows: Record<string, number>;
  partitions: Record<'before' | 'after', Record<string, number>>;
  files: Record<'before' | 'after', Record<string, number>>;
  synthesize_s: number;
  compaction_s: number;
  engines: Partial<Record<'duckdb' | 'trino', EngineTimes | { skipped: string }>>;
}

/** Expressions of each fact's synthesized rows over `v` (id, ts = created, lu = last updated, version). */
const FACT_ROWS: Record<string, { perBatch: string; columns: Record<string, string> }> = {
  fact_sales_order: {
    // A new order, and an amendment of an older one (any month of the year so far).
    perBatch: `SELECT b, ts AS lu, b AS id, 1 AS version FROM batches UNION ALL SELECT b, ts + INTERVAL 1 SECOND, 1 + CAST(hash(b) % (b - 1) AS INTEGER), 2 FROM batches WHERE b > 1`,
    columns: {
      sales_order_id: 'id', sales_staff_id: '1 + id % 20', counterparty_id: '1 + id % 20', units_sold: '1 + (id * 7 + version) % 100',
      unit_price: '2 + (id % 300) / 100.0', currency_id: '1 + id % 3', design_id: '1 + id % 300',
      agreed_payment_date: 'CAST(created AS DATE) + 14', agreed_delivery_date: 'CAST(created AS DATE) + 10', agreed_delivery_location_id: '1 + id % 30',
    },
  },
  fact_purchase_order: {
    perBatch: `SELECT b, ts AS lu, b AS id, 1 AS version FROM batches`,
    columns: {
      purchase_order_id: 'id', staff_id: '1 + id % 20', counterparty_id: '1 + id % 20', item_code: `'ITEM' || (id % 50)`, item_quantity: '1 + id % 40',
      item_unit_price: '1 + (id % 500) / 100.0', currency_id: '1 + id % 3', agreed_delivery_date: 'CAST(created AS DATE) + 7',
      agreed_payment_date: 'CAST(created AS DATE) + 30', agreed_delivery_location_id: '1 + id % 30',
    },
  },
  fact_payment: {
    // A new unpaid payment of the batch's order, and an older payment turning paid.
    perBatch: `SELECT b, ts AS lu, b AS id, 1 AS version FROM batches UNION ALL SELECT b, ts + INTERVAL 1 SECOND, 1 + CAST(hash(b * 31) % (b - 1) AS INTEGER), 2 FROM batches WHERE b > 1`,
    columns: {
      payment_id: 'id', transaction_id: 'id', counterparty_id: '1 + id % 20', payment_amount: '10 + (id % 1000) / 10.0', currency_id: '1 + id % 3',
      payment_type_id: '1', paid: 'version = 2', payment_date: 'CAST(created AS DATE) + 14',
    },
  },
};

const DIMENSION_ROWS: Record<string, string> = {
  dim_date: `SELECT d AS date_id, year(d) AS year, month(d) AS month, day(d) AS day, isodow(d) AS day_of_week, dayname(d) AS day_name, monthname(d) AS month_name, quarter(d) AS quarter
             FROM (SELECT CAST(range AS DATE) AS d FROM range(DATE '2024-12-01', DATE '2026-03-01', INTERVAL 1 DAY))`,
  dim_staff: `SELECT i AS staff_id, 'First' || i AS first_name, 'Last' || i AS last_name, 'Dept' || (i % 8) AS department_name, NULL AS location, 'staff' || i || '@terrifictotes.com' AS email_address FROM range(1, 21) t(i)`,
  dim_location: `SELECT i AS location_id, i || ' Street' AS address_line_1, NULL AS address_line_2, NULL AS district, 'City' || i AS city, 'PC' || i AS postal_code, 'Country' AS country, '0100' || i AS phone FROM range(1, 31) t(i)`,
  dim_design: `SELECT i AS design_id, 'Design ' || i AS design_name, '/designs' AS file_location, 'design-' || i || '.json' AS file_name FROM range(1, 301) t(i)`,
  dim_currency: `SELECT * FROM (VALUES (1, 'GBP', 'Pound Sterling'), (2, 'USD', 'US Dollar'), (3, 'EUR', 'Euro')) t(currency_id, currency_code, currency_name)`,
  dim_counterparty: `SELECT i AS counterparty_id, 'Counterparty ' || i AS counterparty_legal_name, i || ' Road' AS counterparty_legal_address_line_1, NULL AS counterparty_legal_address_line_2, NULL AS counterparty_legal_district,
                     'City' || i AS counterparty_legal_city, 'PC' || i AS counterparty_legal_postal_code, 'Country' AS counterparty_legal_country, '0200' || i AS counterparty_legal_phone_number FROM range(1, 21) t(i)`,
  dim_transaction: `SELECT b AS transaction_id, 'SALE' AS transaction_type, b AS sales_order_id, NULL AS purchase_order_id FROM batches`,
  dim_payment_type: `SELECT * FROM (VALUES (1, 'SALES_RECEIPT'), (2, 'SALES_REFUND'), (3, 'PURCHASE_PAYMENT'), (4, 'PURCHASE_REFUND')) t(payment_type_id, payment_type_name)`,
};

/** The contract's columns of `table` cast to their lake types, from `expressions` (plus the version columns and lineage for a fact). */
function projection(table: StarTable, expressions: Record<string, string>): string {
  const version: Record<string, string> = {
    created_date: 'CAST(created AS DATE)',
    created_time: `strftime(created, '%H:%M:%S.000')`,
    last_updated_date: 'CAST(lu AS DATE)',
    last_updated_time: `strftime(lu, '%H:%M:%S.000')`,
  };
  const columns = table.columns.map((c) => {
    const expression = expressions[c.name] ?? version[c.name] ?? c.name;
    return `CAST(${expression} AS ${duckdbTypeOfTrino(lakeTrinoType(c.type))}) AS ${c.name}`;
  });
  return table.kind === 'fact' ? [...columns, `batch_id AS _batch_id`, `'year-bench' AS _sql_hash`].join(', ') : columns.join(', ');
}

async function synthesize(dir: string, batches: number, log: (m: string) => void): Promise<{ batchIds: string[]; rows: Record<string, number> }> {
  const processed = path.join(dir, 'processed');
  await fs.mkdir(path.join(processed, 'star'), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    await db.run(`CREATE TABLE batches AS
      SELECT b, ts, lpad(CAST(b AS VARCHAR), 10, '0') || '-' || strftime(ts, '%Y%m%dT%H%M%SZ') || '-' || printf('%04x', b % 65536) AS batch_id
      FROM (SELECT range AS b, TIMESTAMP '${START}' + (range - 1) * INTERVAL 5 MINUTE AS ts FROM range(1, ${batches + 1}))`);
    const batchIds = (await db.runAndReadAll('SELECT batch_id FROM batches ORDER BY b')).getRowObjects().map((r) => String(r.batch_id));
    const rows: Record<string, number> = {};
    for (const fact of FACTS) {
      const { perBatch, columns } = FACT_ROWS[fact.name];
      // created: an order's id is the batch that created it.
      await db.run(`CREATE TABLE ${fact.name} AS
        SELECT ${projection(fact, columns)}
        FROM (SELECT v.*, batches.batch_id, TIMESTAMP '${START}' + (v.id - 1) * INTERVAL 5 MINUTE AS created FROM (${perBatch}) AS v JOIN batches USING (b))
        ORDER BY _batch_id`);
      rows[fact.name] = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${fact.name}`)).getRowObjects()[0].n);
      log(`year lake: ${fact.name}: ${rows[fact.name]} versions in ${batches} batch partitions`);
      // The batches' partitions, as the transform writes them: star/<fact>/batch_id=<batch>/, one file each.
      // In slices of batches: one COPY holding a year of partitions open runs out of memory.
      await db.run(`SET threads = 1`);
      for (let from = 0; from < batchIds.length; from += COPY_SLICE) {
        const slice = `_batch_id >= '${batchIds[from]}' AND _batch_id <= '${batchIds[Math.min(from + COPY_SLICE, batchIds.length) - 1]}'`;
        await db.run(`COPY (SELECT *, _batch_id AS batch_id FROM ${fact.name} WHERE ${slice} ORDER BY _batch_id) TO '${path.join(processed, factTablePrefix(fact.name))}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (batch_id), OVERWRITE_OR_IGNORE)`);
      }
      await db.run(`RESET threads`);
      // The floor: the same rows as one table, one file.
      await fs.mkdir(path.join(processed, 'floor', fact.name), { recursive: true });
      await db.run(`COPY (SELECT * FROM ${fact.name} ORDER BY created_date) TO '${path.join(processed, 'floor', fact.name, 'part-00000.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    }
    const last = batchIds.at(-1)!;
    for (const [name, select] of Object.entries(DIMENSION_ROWS)) {
      const prefix = path.join(processed, dimensionPrefix(name, last));
      await fs.mkdir(prefix, { recursive: true });
      await db.run(`COPY (SELECT ${projection(starTable(name), {})}, '${last}' AS _batch_id, 'year-bench' AS _sql_hash FROM (${select})) TO '${path.join(prefix, 'part-00000.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    }
    return { batchIds, rows };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

async function publish(catalog: FolderCatalog, batchIds: readonly string[]): Promise<void> {
  const last = batchIds.at(-1)!;
  for (const name of Object.keys(DIMENSION_ROWS)) await catalog.repoint(name, { prefix: dimensionPrefix(name, last), batchId: last, sqlHash: 'year-bench' });
  // One pointer write per fact (105,120 addPartition calls would each rewrite the whole pointer).
  for (const fact of FACTS) await catalog.replacePartitions(fact.name, batchIds.map((b) => ({ prefix: `${factTablePrefix(fact.name)}batch_id=${b}/`, batchId: b, sqlHash: 'year-bench' })));
}

async function countFiles(store: FolderObjectStore, partitions: readonly TableLocation[]): Promise<number> {
  let files = 0;
  for (const p of partitions) for await (const { key } of store.list(p.prefix)) if (key.endsWith('.parquet')) files++;
  return files;
}

/** The four analysis queries and the date-bounded one; `monthColumn`: the layout has created_month to prune on. */
async function queries(lastMonth: string, monthColumn: boolean): Promise<Record<string, string>> {
  const dir = path.join(ROOT, 'sql', 'analysis');
  const out: Record<string, string> = {};
  for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.sql')).sort()) out[name.replace(/\.sql$/, '')] = await fs.readFile(path.join(dir, name), 'utf8');
  out.date_bounded = `SELECT currency_id, count(*) AS versions, sum(units_sold) AS units FROM fact_sales_order WHERE created_date >= DATE '${lastMonth}-01'${monthColumn ? ` AND ${FACT_MONTH_COLUMN} >= '${lastMonth}'` : ''} GROUP BY currency_id ORDER BY currency_id`;
  return out;
}

async function timed(runs: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]);
}

function ratios(ms: Record<Layout, Record<string, number>>): Omit<EngineTimes, 'ms'> {
  const analysis = (layout: Layout) => Object.entries(ms[layout]).filter(([q]) => q !== 'date_bounded').reduce((sum, [, v]) => sum + v, 0);
  const analysis_ms = { before: analysis('before'), after: analysis('after'), floor: analysis('floor') };
  const r = (a: number, b: number) => Math.round((a / Math.max(b, 1)) * 100) / 100;
  return {
    analysis_ms,
    query_ratio_after: r(analysis_ms.after, analysis_ms.floor),
    query_ratio_before: r(analysis_ms.before, analysis_ms.floor),
    date_query_ratio_after: r(ms.after.date_bounded, ms.floor.date_bounded),
    date_query_ratio_before: r(ms.before.date_bounded, ms.floor.date_bounded),
  };
}

/** Trino: Hive tables over the lake as Glue holds them, one schema per layout. */
class TrinoLayouts {
  constructor(
    private readonly url: string,
    private readonly processed: FolderObjectStore,
  ) {}

  private client(schema?: string): TrinoClient {
    return new TrinoClient({ url: this.url, catalog: 'lake', schema, timeoutMs: 3_600_000 });
  }

  private loc(key: string): string {
    return `local://${this.processed.pathOf(key)}${key.endsWith('/') ? '/' : ''}`.replace(/\/+$/, '/');
  }

  private columns(table: StarTable): string {
    return [...table.columns.map((c) => `${c.name} ${lakeTrinoType(c.type)}`), ...LINEAGE_COLUMNS.map((n) => `${n} varchar`)].join(', ');
  }

  async prepare(schema: Layout, facts: Record<string, TableLocation[]>, batchIds: readonly string[]): Promise<void> {
    const c = this.client();
    await c.execute(`CREATE SCHEMA IF NOT EXISTS lake.${schema}`, 'schema');
    const last = batchIds.at(-1)!;
    for (const name of Object.keys(DIMENSION_ROWS)) {
      await c.execute(`CREATE TABLE lake.${schema}.${name} (${this.columns(starTable(name))}) WITH (format = 'PARQUET', external_location = '${this.loc(dimensionPrefix(name, last))}')`, name);
    }
    for (const fact of FACTS) {
      const cols = this.columns(fact);
      if (schema === 'floor') {
        await c.execute(`CREATE TABLE lake.floor.${fact.name} (${cols}) WITH (format = 'PARQUET', external_location = '${this.loc(`floor/${fact.name}/`)}')`, fact.name);
      } else if (schema === 'before') {
        // Every batch a partition, as the transform registers them in Glue.
        await c.execute(`CREATE TABLE lake.before.${fact.name} (${cols}, batch_id varchar) WITH (format = 'PARQUET', external_location = '${this.loc(factTablePrefix(fact.name))}', partitioned_by = ARRAY['batch_id'])`, fact.name);
        await c.execute(`CALL lake.system.sync_partition_metadata(schema_name => 'before', table_name => '${fact.name}', mode => 'ADD')`, `${fact.name} partitions`);
      } else {
        // The compacted months (one partition each, wherever its compaction wrote it) and the recent batches, read together.
        const months = facts[fact.name].filter((p) => p.month !== undefined);
        const recent = facts[fact.name].filter((p) => p.month === undefined);
        await c.execute(`CREATE TABLE lake.after.${fact.name}_months (${cols}, ${FACT_MONTH_COLUMN} varchar) WITH (format = 'PARQUET', external_location = '${this.loc(factTablePrefix(fact.name))}', partitioned_by = ARRAY['${FACT_MONTH_COLUMN}'])`, fact.name);
        for (const m of months) {
          await c.execute(`CALL lake.system.register_partition('after', '${fact.name}_months', ARRAY['${FACT_MONTH_COLUMN}'], ARRAY['${m.month}'], '${this.loc(m.prefix)}')`, `${fact.name} ${m.month}`);
        }
        await c.execute(`CREATE TABLE lake.after.${fact.name}_batches (${cols}, batch_id varchar) WITH (format = 'PARQUET', external_location = '${this.loc(factTablePrefix(fact.name))}', partitioned_by = ARRAY['batch_id'])`, fact.name);
        for (const b of recent) {
          await c.execute(`CALL lake.system.register_partition('after', '${fact.name}_batches', ARRAY['batch_id'], ARRAY['${b.batchId}'], '${this.loc(b.prefix)}')`, `${fact.name} ${b.batchId}`);
        }
        const names = [...fact.columns.map((col) => col.name), ...LINEAGE_COLUMNS].join(', ');
        await c.execute(
          `CREATE OR REPLACE VIEW lake.after.${fact.name} AS SELECT ${names}, ${FACT_MONTH_COLUMN} FROM lake.after.${fact.name}_months UNION ALL SELECT ${names}, substr(CAST(created_date AS varchar), 1, 7) AS ${FACT_MONTH_COLUMN} FROM lake.after.${fact.name}_batches`,
          fact.name,
        );
      }
    }
  }

  async run(schema: Layout, sql: string): Promise<void> {
    await this.client(schema).execute(sql, `${schema} query`);
  }
}

export async function yearLakeBench(options: YearLakeOptions = {}): Promise<YearLakeResult> {
  const batches = options.batches ?? YEAR_OF_BATCHES;
  const runs = options.runs ?? 3;
  const engines = options.engines ?? ['duckdb', 'trino'];
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (batches < RECENT * 2) throw new Error(`--batches must be at least ${RECENT * 2}, got ${batches}`);
  const dir = options.dir ?? path.join(ROOT, 'bench', 'data', 'year-lake');
  const reuse = options.reuse === true && (await fs.stat(path.join(dir, 'processed', 'catalog', 'dim_date.json')).then(() => true, () => false));
  if (!reuse) await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(path.join(dir, 'metastore'), { recursive: true, force: true });
  const processed = new FolderObjectStore(path.join(dir, 'processed'));
  const ingestion = new FolderObjectStore(path.join(dir, 'ingestion'));
  await fs.mkdir(path.join(dir, 'ingestion'), { recursive: true });
  const catalog = new FolderCatalog(processed);
  // A fresh DuckDB per compaction and per query: one that has read 100,000 files keeps gigabytes it does not give back.
  const withEngine = async <T>(work: (ctx: PipelineContext) => Promise<T>): Promise<T> => {
    const engine = await DuckDbEngine.create(ingestion, processed);
    try {
      return await work({
        ingestion, processed, engine, catalog, log: silentLog, now: () => new Date(), sqlRoot: ROOT, warehouseSchema: 'public',
        source: unusedPort('source'), warehouse: unusedPort('warehouse'),
      });
    } finally {
      await engine.close();
    }
  };
  let trinoStop: (() => Promise<void>) | undefined;
  try {
    let started = performance.now();
    let batchIds: string[];
    let rows: Record<string, number> = {};
    if (reuse) {
      batchIds = (await fs.readdir(path.join(dir, 'processed', factTablePrefix('fact_payment')))).filter((n) => n.startsWith('batch_id=')).map((n) => n.slice('batch_id='.length)).sort();
      for (const f of FACTS) rows[f.name] = await withEngine(async (ctx) => Number((await ctx.engine.query(`SELECT count(*) AS n FROM ${f.name}`, { batch: {}, current: {}, star: { [f.name]: [`floor/${f.name}/`] } }))[0].n));
      log(`year lake: reusing the lake in ${dir} (${batchIds.length} batches)`);
    } else {
      ({ batchIds, rows } = await synthesize(dir, batches, log));
      await publish(catalog, batchIds);
    }
    const synthesize_s = Math.round((performance.now() - started) / 100) / 10;
    const lastMonth = batchIds.at(-1)!.slice(11, 15) + '-' + batchIds.at(-1)!.slice(15, 17);

    const before: Record<string, TableLocation[]> = {};
    for (const f of FACTS) before[f.name] = batchIds.map((b) => ({ prefix: `${factTablePrefix(f.name)}batch_id=${b}/`, batchId: b, sqlHash: 'year-bench' }));
    const result: YearLakeResult = {
      batches: batchIds.length, fact_rows: rows, synthesize_s, compaction_s: 0, engines: {},
      partitions: { before: {}, after: {} }, files: { before: {}, after: {} },
    };
    for (const f of FACTS) {
      result.partitions.before[f.name] = before[f.name].length;
      result.files.before[f.name] = await countFiles(processed, before[f.name]);
    }
    log(`year lake: synthesized in ${synthesize_s} s: ${JSON.stringify(result.partitions.before)} partitions`);

    // Trino sees the batch partitions before the compaction writes beside them.
    let trino: TrinoLayouts | undefined;
    if (engines.includes('trino')) {
      const skip = trinoSkipReason();
      if (skip) result.engines.trino = { skipped: skip };
      else {
        const launched = await launchTrino({
          catalogs: {
            lake: {
              'connector.name': 'hive', 'hive.metastore': 'file', 'hive.metastore.catalog.dir': `local://${path.join(dir, 'metastore')}`,
              'fs.native-local.enabled': 'true', 'local.location': '/', 'hive.allow-register-partition-procedure': 'true', 'hive.recursive-directories': 'true',
            },
          },
          timeoutMs: 300_000,
        });
        trinoStop = launched.stop;
        trino = new TrinoLayouts(launched.url, processed);
        started = performance.now();
        await trino.prepare('before', before, batchIds);
        await trino.prepare('floor', before, batchIds);
        log(`year lake: Trino tables before compaction registered in ${Math.round((performance.now() - started) / 1000)} s`);
      }
    }

    // The compaction as the transform leaves a year-old lake: everything but the last hour in months.
    started = performance.now();
    const through = batchIds[batchIds.length - 1 - RECENT];
    for (const fact of FACTS) {
      const plan = planFactCompaction(fact.name, await catalog.partitions(fact.name), through, { ...DEFAULT_FACT_COMPACTION, maxBatches: Number.MAX_SAFE_INTEGER }, true);
      if (typeof plan !== 'object') {
        if (!reuse) throw new Error(`year lake: nothing to compact in ${fact.name} (${plan})`);
        continue; // compacted by the run that built the lake
      }
      await withEngine((ctx) => compactFact(ctx, fact, plan, {}));
      log(`year lake: ${fact.name} compacted`);
    }
    result.compaction_s = Math.round((performance.now() - started) / 100) / 10;
    const after: Record<string, TableLocation[]> = {};
    for (const f of FACTS) {
      after[f.name] = await catalog.partitions(f.name);
      result.partitions.after[f.name] = after[f.name].length;
      result.files.after[f.name] = await countFiles(processed, after[f.name]);
    }
    log(`year lake: compacted in ${result.compaction_s} s: ${JSON.stringify(result.partitions.after)} partitions, ${JSON.stringify(result.files.after)} files`);

    if (engines.includes('duckdb')) {
      const ms: Record<Layout, Record<string, number>> = { before: {}, after: {}, floor: {} };
      const afterBindings = await withEngine((ctx) => lakeBindings(ctx));
      const beforeBindings: RelationBindings = { ...afterBindings, star: { ...afterBindings.star, ...Object.fromEntries(FACTS.map((f) => [f.name, before[f.name].map((p) => p.prefix)])) } };
      const floorBindings: RelationBindings = { ...afterBindings, star: { ...afterBindings.star, ...Object.fromEntries(FACTS.map((f) => [f.name, [`floor/${f.name}/`]])) } };
      const bindings: Record<Layout, RelationBindings> = { before: beforeBindings, after: afterBindings, floor: floorBindings };
      const answers: Partial<Record<Layout, string>> = {};
      for (const layout of ['floor', 'after', 'before'] as const) {
        const texts: string[] = [];
        for (const [name, sql] of Object.entries(await queries(lastMonth, false))) {
          // Each query on its own engine, warmed by one untimed run (but for the year of batch partitions, once is enough).
          ms[layout][name] = await withEngine(async ({ engine }) => {
            const run = async () => texts.push(JSON.stringify(await engine.query(withCurrentViews(sql), bindings[layout]), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)));
            if (layout !== 'before') await run();
            return timed(layout === 'before' ? 1 : runs, run);
          });
          log(`year lake: DuckDB ${layout} ${name}: ${ms[layout][name]} ms`);
        }
        answers[layout] = [...new Set(texts)].join('\n');
      }
      if (answers.after !== answers.floor || answers.before !== answers.floor) throw new Error('year lake: DuckDB answers differ between the layouts; the compaction lost or duplicated versions');
      result.engines.duckdb = { ms, ...ratios(ms) };
    }

    if (trino) {
      await trino.prepare('after', after, batchIds);
      const ms: Record<Layout, Record<string, number>> = { before: {}, after: {}, floor: {} };
      // Warm-up (the JVM compiles as it goes): every query once on the floor, untimed.
      for (const sql of Object.values(await queries(lastMonth, false))) await trino.run('floor', withCurrentViews(sql));
      for (const layout of ['floor', 'after', 'before'] as const) {
        for (const [name, sql] of Object.entries(await queries(lastMonth, layout === 'after'))) {
          ms[layout][name] = await timed(layout === 'before' ? 1 : runs, () => trino!.run(layout, withCurrentViews(sql)));
          log(`year lake: Trino ${layout} ${name}: ${ms[layout][name]} ms`);
        }
      }
      result.engines.trino = { ms, ...ratios(ms) };
    }
    return result;
  } finally {
    await trinoStop?.();
    if (!options.keep) await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The `year_*` entries of bench/results.json. */
export function yearResults(r: YearLakeResult): Record<string, unknown> {
  const ratio = (key: 'query_ratio_after' | 'query_ratio_before') =>
    Object.fromEntries(Object.entries(r.engines).map(([engine, t]) => [engine, t && 'ms' in t ? t[key] : null]));
  return {
    year_batches: r.batches,
    year_fact_partitions: r.partitions.after,
    year_fact_files: r.files.after,
    year_fact_partitions_before: r.partitions.before,
    year_fact_files_before: r.files.before,
    year_query_ratio: ratio('query_ratio_after'),
    year_query_ratio_before: ratio('query_ratio_before'),
    year_lake: r,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batches: { type: 'string', default: String(YEAR_OF_BATCHES) },
      engines: { type: 'string', default: 'duckdb,trino' },
      runs: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      reuse: { type: 'boolean', default: false },
      'no-results': { type: 'boolean', default: false },
    },
  });
  const engines = values.engines.split(',').map((e) => e.trim());
  for (const e of engines) if (e !== 'duckdb' && e !== 'trino') throw new Error(`--engines takes duckdb and/or trino, got ${e}`);
  const result = await yearLakeBench({ batches: Number(values.batches), engines: engines as ('duckdb' | 'trino')[], runs: Number(values.runs), keep: values.keep, reuse: values.reuse });
  const entries = yearResults(result);
  process.stdout.write(`${JSON.stringify(entries)}\n`);
  if (!values['no-results']) {
    const file = path.join(ROOT, 'bench', 'results.json');
    const existing = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    await fs.writeFile(file, `${JSON.stringify({ ...existing, ...entries }, null, 2)}\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
