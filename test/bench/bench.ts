/**
 * `npm run bench [-- --orders N]`: Totes Lake against the physical floor, a peer (dlt) and a naive
 * loader, on one generated totesys, in one run. See BENCHMARKS.md for what each row means.
 *
 * Options:
 *   --orders N          sales orders to generate (default 1 000 000; purchase orders, transactions
 *                       and payments follow the seed's shape)
 *   --source-url URL    use this PostgreSQL database as the source (seeded when empty) instead of a
 *                       throwaway server; the warehouse and the 3× source are databases beside it.
 *                       The bench writes to it: it adds the README's recommended last_updated indexes
 *                       before the second set of incremental cycles, and changes sales orders
 *   --skip-dlt          do not run the dlt peer (else it is installed on first use: test/bench/install-dlt.sh)
 *   --dlt-backend B     connectorx (default: the fastest that installs here) or pyarrow
 *   --skip-3x           do not measure the extract on a 3× source
 *   --small-orders N    sales orders of the second, smaller source whose five-minute cycles are
 *                       measured beside the main one's (incremental_activity_ms_100k; default 100 000)
 *   --skip-small        do not measure the five-minute cycles on the smaller source
 *   --naive-sample N    rows of the naive per-row INSERT sample (default 20 000)
 *   --soak-seconds N    seconds of pgbench write load in the exactly-once soak (default 60)
 *   --skip-soak         do not run the write-load soak
 *   --keep              keep bench/data/ (lake, floor files) after the run
 *   --skip-year         do not build and measure the year-old lake (test/bench/year-lake.ts)
 *   --year-engines E    engines of the year-old lake (default duckdb,trino; Trino is skipped with a notice when not installed)
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SOURCE_TABLES, SOURCE_TABLE_NAMES } from '../../functions/core/contract/source-tables';
import { seedTotesys } from '../../functions/totesys/seed';
import { openScenario } from '../scenarios/scenario-harness';
import { soakUnderWriteLoad, type SoakResult } from '../scenarios/write-load-soak';
import { runWriteLoad } from '../support/write-load';
import { floorCopyIn, floorJsonToParquet, floorSourceToJson, naiveInsertRate } from './floors';
import { lastJsonLine, runMeasured } from './measured-process';
import { markdownTable, type BenchRow } from './report';
import { yearLakeBench, yearResults } from './year-lake';
import { median, withDatabase } from './bench-util';

const ROOT = path.resolve(__dirname, '..', '..');
const DATA = path.join(ROOT, 'bench', 'data');
const SEED_SALES_ORDERS_PER_SCALE = 7000;
/** The source indexes README.md recommends for a large totesys ("Against a large totesys"). */
const RECOMMENDED_INDEXES = ['sales_order', 'purchase_order', 'transaction', 'payment'].map(
  (t) => `CREATE INDEX IF NOT EXISTS ${t}_last_updated_idx ON "${t}" (last_updated, ${t}_id)`,
);

/**
 * Timed cycles in each warm series: an hour of five-minute cycles, so the current states' deltas
 * compact in it as often as they do in use (current-compaction.ts: at most 11 deltas).
 */
const WARM_CYCLES = 12;

interface WarmCycle {
  ms: number;
  rows: number;
  extractMs: number;
  transformMs: number;
  loadMs: number;
  /** The cycle's transform: batches, statements sent to the engine, their critical path, bytes scanned (null on DuckDB). */
  batches: number;
  queries: number;
  criticalPath: number;
  bytesScanned: number | null;
  /** Current states of at least 10,000 rows whose base the cycle rewrote (a compaction: current-compaction.ts). */
  compacted: string[];
}

interface StageReport {
  ms: number;
  peakRssMb: number;
  rows?: Record<string, number>;
  [key: string]: unknown;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '1000000' },
      'source-url': { type: 'string' },
      'skip-dlt': { type: 'boolean', default: false },
      'dlt-backend': { type: 'string', default: 'connectorx' },
      'skip-3x': { type: 'boolean', default: false },
      'small-orders': { type: 'string', default: '100000' },
      'skip-small': { type: 'boolean', default: false },
      'naive-sample': { type: 'string', default: '20000' },
      'soak-seconds': { type: 'string', default: '60' },
      'skip-soak': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'skip-year': { type: 'boolean', default: false },
      'year-engines': { type: 'string', default: 'duckdb,trino' },
    },
  });
  const orders = Number(values.orders);
  if (!Number.isInteger(orders) || orders < 1000) throw new Error(`--orders must be an integer ≥ 1000, got ${values.orders}`);
  const smallOrders = Number(values['small-orders']);
  if (!Number.isInteger(smallOrders) || smallOrders < 1000) throw new Error(`--small-orders must be an integer ≥ 1000, got ${values['small-orders']}`);
  const benchStarted = performance.now();
  const loadBefore = os.loadavg();
  const log = (message: string): void => {
    process.stderr.write(`[bench ${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
  };

  await fs.rm(DATA, { recursive: true, force: true });
  await fs.mkdir(DATA, { recursive: true });
  let serverDir: string | undefined;
  let baseUrl: string;
  let sourceUrl: string;
  if (values['source-url']) {
    sourceUrl = values['source-url'];
    baseUrl = sourceUrl;
  } else {
    log('starting a throwaway PostgreSQL 15 server');
    const envFile = path.join(DATA, 'pg.env');
    execFileSync('bash', [path.join(ROOT, 'test/support/pg-server.sh'), 'start', '--env-file', envFile], { stdio: ['ignore', 'ignore', 'inherit'] });
    const env = await fs.readFile(envFile, 'utf8');
    baseUrl = /TOTES_TEST_PG_URL=(\S+)/.exec(env)![1];
    serverDir = /TOTES_TEST_PG_DIR=(\S+)/.exec(env)![1];
    sourceUrl = withDatabase(baseUrl, 'totesys');
  }
  const warehouseUrl = withDatabase(baseUrl, 'totes_bench_warehouse');
  const source3xUrl = withDatabase(baseUrl, 'totes_bench_totesys_3x');
  const smallSourceUrl = withDatabase(baseUrl, 'totes_bench_totesys_small');
  const smallWarehouseUrl = withDatabase(baseUrl, 'totes_bench_warehouse_small');
  const cycleWarehouseUrl = withDatabase(baseUrl, 'totes_bench_warehouse_cycle');
  const results: Record<string, unknown> = { orders };
  const notes: string[] = [];
  try {
    await recreateDatabase(baseUrl, 'totes_bench_warehouse');
    if (!values['source-url']) await recreateDatabase(baseUrl, 'totesys');

    // 1. Source data.
    const scale = orders / SEED_SALES_ORDERS_PER_SCALE;
    const existing = await tableCounts(sourceUrl).catch(() => undefined);
    let seedS: number | null = null;
    if (!existing || existing.sales_order === 0) {
      log(`seeding totesys: scale ${scale.toFixed(3)} (≈${orders} sales orders)`);
      const t0 = performance.now();
      // Generated rows satisfy every foreign key by construction; skipping the per-row FK triggers
      // while seeding (replica role, this database only) makes the seed several times faster.
      await setReplicaRole(baseUrl, dbName(sourceUrl), true);
      try {
        await seedTotesys(sourceUrl, { scale, seed: 1, asOf: new Date(Date.now() - 86_400_000) });
      } finally {
        await setReplicaRole(baseUrl, dbName(sourceUrl), false);
      }
      await sql(sourceUrl, 'VACUUM ANALYZE');
      seedS = (performance.now() - t0) / 1000;
    }
    const counts = await tableCounts(sourceUrl);
    const sourceRows = Object.values(counts).reduce((a, b) => a + b, 0);
    results.seed_s = seedS;
    results.source_rows = counts;
    log(`source: ${JSON.stringify(counts)}`);

    // 2. Floors 1 and 2.
    log('floor: COPY … TO STDOUT as JSON lines');
    const floorOut = await floorSourceToJson(sourceUrl, path.join(DATA, 'floor', 'ndjson'));
    log('floor: DuckDB NDJSON → Parquet');
    const floorParquet = await floorJsonToParquet(floorOut.files, path.join(DATA, 'floor', 'parquet'));

    // 3. Totes Lake, full first cycle, one child process per stage.
    const lake = path.join(DATA, 'lake');
    const urls = ['--lake', lake, '--source-url', sourceUrl, '--warehouse-url', warehouseUrl];
    const stages: Record<string, { report: StageReport; wallMs: number; sampledRssMb: number }> = {};
    for (const stage of ['extract', 'transform', 'load'] as const) {
      log(`Totes Lake: ${stage}`);
      const run = await runMeasured(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'stage-child.ts'), stage, ...urls], { cwd: ROOT });
      const report = lastJsonLine<StageReport>(run.stdout);
      stages[stage] = { report, wallMs: run.wallMs, sampledRssMb: run.peakRssMb };
    }
    // 3b. The same first cycle as one run (`totes run`: run-cycle.ts), its own lake and warehouse:
    // the transform parses each table's raw files as soon as the extract has read it (issue 14,
    // item 3), which the stages run apart above cannot show.
    log('Totes Lake: the full first cycle as one run');
    const cycleLake = path.join(DATA, 'lake-cycle');
    await recreateDatabase(baseUrl, dbName(cycleWarehouseUrl));
    // The load above left its writes to be checkpointed: flushed now, not in the middle of this run's
    // load (a role that may not checkpoint, with --source-url, skips it).
    await sql(baseUrl, 'CHECKPOINT').catch(() => undefined);
    const cycleRun = await runMeasured(
      process.execPath,
      ['--require', 'tsx/cjs', path.join(__dirname, 'stage-child.ts'), 'cycle', '--lake', cycleLake, '--source-url', sourceUrl, '--warehouse-url', cycleWarehouseUrl],
      { cwd: ROOT },
    );
    const oneRun = { report: lastJsonLine<StageReport & { timings: { extractMs: number; transformMs: number; loadMs: number } }>(cycleRun.stdout), sampledRssMb: cycleRun.peakRssMb };
    await fs.rm(cycleLake, { recursive: true, force: true });
    await dropDatabase(baseUrl, dbName(cycleWarehouseUrl));

    const starRows = Object.values(stages.load.report.rows ?? {}).reduce((a, b) => a + b, 0);
    const factRows = ['fact_sales_order', 'fact_purchase_order', 'fact_payment'].reduce((a, t) => a + (stages.load.report.rows?.[t] ?? 0), 0);

    // 4. Floor 3, from the star rows the load wrote.
    log('floor: COPY … FROM STDIN of the star rows');
    const floorIn = await floorCopyIn(warehouseUrl, path.join(DATA, 'floor', 'csv'));

    // 5. Naive per-row INSERT.
    const naiveSample = Number(values['naive-sample']);
    log(`naive: ${naiveSample} single-row INSERTs`);
    const naive = await naiveInsertRate(warehouseUrl, naiveSample);

    // 6. Warm incremental cycles: first on totesys as Prisma ships it (no index on last_updated, so
    // each extract scans the four order tables), then with the indexes the README recommends for a
    // large totesys, plus one cycle that compacts the deltas; then a cold no-op `totes run`.
    // Each series times an hour of five-minute cycles (stage-child.ts: after an untimed batch of the
    // same kind), so its deltas compact as often as in use and its median is an hour's, not that of
    // where five cycles fell (before 2026-12-08 a series was 5 cycles after a cycle with nothing new:
    // its first cycle paid for opening DuckDB, and a compaction left due by the series before was one
    // fifth of the sample).
    type WarmReport = { warmupMs: number; warmupBatchMs?: number; cycles: WarmCycle[]; compactionCycle?: WarmCycle; peakRssMb: number };
    const warmCycles = async (extra: string[], on: string[] = urls): Promise<{ report: WarmReport; peakRssMb: number }> => {
      const run = await runMeasured(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'stage-child.ts'), 'warm', ...on, '--changes', '1000', '--repeats', String(WARM_CYCLES), ...extra], { cwd: ROOT });
      return { report: lastJsonLine<WarmReport>(run.stdout), peakRssMb: run.peakRssMb };
    };
    log('Totes Lake: warm incremental cycles (1000 changed sales orders), source without a last_updated index');
    const warmUnindexed = await warmCycles([]);
    log('Totes Lake: warm cycles after 5 simulated minutes of business each, source without a last_updated index');
    const activityUnindexed = await warmCycles(['--activity', '5']);
    const activityUnindexedMs = median(activityUnindexed.report.cycles.map((c) => c.ms));
    log(`source: ${RECOMMENDED_INDEXES.length} recommended indexes on (last_updated, id) (README "Against a large totesys")`);
    for (const ddl of RECOMMENDED_INDEXES) await sql(sourceUrl, ddl);
    await sql(sourceUrl, 'ANALYZE');
    log('Totes Lake: warm incremental cycles, source with the recommended indexes, then one compaction');
    const warmRun = await warmCycles(['--compaction']);
    const warm = warmRun.report;
    const warmMs = median(warm.cycles.map((c) => c.ms));
    const warmUnindexedMs = median(warmUnindexed.report.cycles.map((c) => c.ms));
    log('Totes Lake: warm incremental cycles with a writer (clock 2 s behind) in flight at the previous snapshot: each rescues 100 late versions');
    const warmInflight = await warmCycles(['--inflight']);
    const inflightMs = median(warmInflight.report.cycles.map((c) => c.ms));
    log('Totes Lake: warm cycles after 5 simulated minutes of business each (new orders, transactions, payments)');
    const warmActivity = await warmCycles(['--activity', '5']);
    const activityMs = median(warmActivity.report.cycles.map((c) => c.ms));
    // What an hour of such cycles costs per cycle, the compactions that fell in it included.
    const activityMeanMs = warmActivity.report.cycles.reduce((sum, c) => sum + c.ms, 0) / warmActivity.report.cycles.length;
    const activityCompacting = warmActivity.report.cycles.filter((c) => c.compacted.length > 0).length;
    const activityRows = median(warmActivity.report.cycles.map((c) => c.rows));
    // The engine round trips of those batches (issue 14: critical path ≤ 5, total ≤ 12): each cycle transforms one batch.
    if (warmActivity.report.cycles.some((c) => c.batches !== 1)) throw new Error(`bench: an activity cycle transformed ${JSON.stringify(warmActivity.report.cycles.map((c) => c.batches))} batches, not one`);
    const queriesPerBatch = median(warmActivity.report.cycles.map((c) => c.queries));
    const criticalPathPerBatch = median(warmActivity.report.cycles.map((c) => c.criticalPath));

    // 6a. The same five-minute cycles on a second, smaller source (issue 14: the activity cost must
    // be flat from 100k to 1M orders). Seeded alike (seed 1, --small-orders), with the recommended
    // indexes from the start; its own lake and warehouse. Before the measured cycles, a first cycle
    // and five cycles of 1,000 changed sales orders leave its current states as the main source's
    // are when its activity cycles start: compacted bases with a few deltas of about 1,000 rows.
    let small: { orders: number; ms: number; cycles: WarmCycle[]; rows: number; peakRssMb: number } | null = null;
    if (!values['skip-small']) {
      log(`smaller source: seeding ≈${smallOrders} sales orders, with the recommended indexes`);
      await recreateDatabase(baseUrl, dbName(smallSourceUrl));
      await recreateDatabase(baseUrl, dbName(smallWarehouseUrl));
      await setReplicaRole(baseUrl, dbName(smallSourceUrl), true);
      try {
        await seedTotesys(smallSourceUrl, { scale: smallOrders / SEED_SALES_ORDERS_PER_SCALE, seed: 1, asOf: new Date(Date.now() - 86_400_000) });
      } finally {
        await setReplicaRole(baseUrl, dbName(smallSourceUrl), false);
      }
      for (const ddl of RECOMMENDED_INDEXES) await sql(smallSourceUrl, ddl);
      await sql(smallSourceUrl, 'VACUUM ANALYZE');
      const smallUrls = ['--lake', path.join(DATA, 'lake-small'), '--source-url', smallSourceUrl, '--warehouse-url', smallWarehouseUrl];
      log('smaller source: first cycle and 5 warm cycles of 1000 changed sales orders (not reported)');
      await warmCycles([], smallUrls);
      log('smaller source: warm cycles after 5 simulated minutes of business each');
      const smallActivity = await warmCycles(['--activity', '5'], smallUrls);
      if (smallActivity.report.cycles.some((c) => c.batches !== 1)) throw new Error(`bench: an activity cycle of the smaller source transformed ${JSON.stringify(smallActivity.report.cycles.map((c) => c.batches))} batches, not one`);
      small = {
        orders: smallOrders,
        ms: median(smallActivity.report.cycles.map((c) => c.ms)),
        cycles: smallActivity.report.cycles,
        rows: median(smallActivity.report.cycles.map((c) => c.rows)),
        peakRssMb: Math.max(smallActivity.report.peakRssMb, smallActivity.peakRssMb),
      };
      await fs.rm(path.join(DATA, 'lake-small'), { recursive: true, force: true });
      await sql(withDatabase(baseUrl, 'postgres'), `DROP DATABASE IF EXISTS ${ident(dbName(smallSourceUrl))} WITH (FORCE)`);
      await sql(withDatabase(baseUrl, 'postgres'), `DROP DATABASE IF EXISTS ${ident(dbName(smallWarehouseUrl))} WITH (FORCE)`);
    }
    const activityRatioToSmall = small ? activityMs / small.ms : null;
    log('Totes Lake: cold `totes run` with nothing new (3 runs)');
    const colds = [];
    for (let i = 0; i < 3; i++) colds.push(await runMeasured(process.execPath, [path.join(ROOT, 'functions/cli/totes.cjs'), 'run', ...urls], { cwd: ROOT }));
    const coldS = median(colds.map((c) => c.wallMs)) / 1000;

    // 6b. Exactly once under write load: pgbench writers at the highest rate this machine sustains
    // (probed: 3 s per writer count) while the pipeline runs back to back, on a small seeded source
    // with the audit oracle (test/scenarios/write-load-soak.ts); then settling runs and the verdict.
    let soak: (SoakResult & { clients: number; probe: { clients: number; tps: number }[] }) | null = null;
    if (!values['skip-soak']) {
      const soakSeconds = Number(values['soak-seconds']);
      process.env.TOTES_TEST_PG_URL = baseUrl;
      const scenario = await openScenario('bench_load');
      try {
        const [max] = await scenario.sql<{ so: number; pay: number; po: number }>(
          'SELECT (SELECT max(sales_order_id) FROM sales_order) AS so, (SELECT max(payment_id) FROM payment) AS pay, (SELECT max(purchase_order_id) FROM purchase_order) AS po',
        );
        const probe: { clients: number; tps: number }[] = [];
        for (const clients of [2, 4, 8, 16, 32]) {
          const r = await runWriteLoad(scenario.source.url, { salesOrder: max.so, payment: max.pay, purchaseOrder: max.po }, { seconds: 3, clients });
          probe.push({ clients, tps: r.tps });
        }
        const best = probe.reduce((a, b) => (b.tps > a.tps ? b : a));
        log(`write load: probe ${probe.map((p) => `${p.clients} writers ${p.tps.toFixed(0)} tps`).join(', ')}; soak of ${soakSeconds} s with ${best.clients}`);
        soak = { ...(await soakUnderWriteLoad(scenario, { seconds: soakSeconds, clients: best.clients })), clients: best.clients, probe };
        log(`write load: ${soak.written.tps.toFixed(0)} tps, ${soak.extracts} extracts, ${soak.versionsLost} of ${soak.mustVersions} versions lost, ${soak.duplicated} duplicated`);
        if (soak.problems.length) notes.push(`Write-load soak problems:\n${soak.problems.join('\n')}`);
      } finally {
        await scenario.close();
      }
    }

    // 7. The peer.
    let dlt: { seconds: number; wallS: number; peakRssMb: number; rows: number; detail: Record<string, unknown> } | null = null;
    let dltReason: string | null = null;
    if (values['skip-dlt']) dltReason = 'skipped (--skip-dlt)';
    else {
      const python = (await dltPython()) ?? (await installDlt(log));
      if (!python) dltReason = 'dlt could not be installed: `bash test/bench/install-dlt.sh` failed (see its output above), or use --skip-dlt';
      else {
        log(`peer: dlt sql_database (${values['dlt-backend']}) → local Parquet`);
        try {
          const out = path.join(DATA, 'dlt');
          const run = await runMeasured(python, [path.join(__dirname, 'dlt_extract.py'), sqlalchemyUrl(sourceUrl), out, values['dlt-backend']!, SOURCE_TABLE_NAMES.join(',')], { cwd: ROOT });
          const report = lastJsonLine<{ run_s: number; rows: Record<string, number> }>(run.stdout);
          const rows = Object.entries(report.rows).filter(([t]) => !t.startsWith('_dlt')).reduce((a, [, n]) => a + n, 0);
          dlt = { seconds: report.run_s, wallS: run.wallMs / 1000, peakRssMb: run.peakRssMb, rows, detail: report };
        } catch (err) {
          dltReason = `dlt failed: ${(err as Error).message.trim().slice(-600).replace(/\s+/g, ' ')}`;
        }
      }
    }

    // 8. Extract at 3× the rows: a copy of the source with every order table tripled (server-side).
    let extract3x: { report: StageReport; wallMs: number; sampledRssMb: number; rows: number } | null = null;
    if (!values['skip-3x']) {
      log('3×: copying the source and tripling the order tables');
      await recreateDatabase(baseUrl, dbName(source3xUrl), dbName(sourceUrl));
      // Like the 1× full extract, the 3× one reads totesys as shipped, without the recommended indexes.
      for (const t of ['sales_order', 'purchase_order', 'transaction', 'payment']) await sql(source3xUrl, `DROP INDEX IF EXISTS ${t}_last_updated_idx`);
      await triple(source3xUrl);
      const rows3x = Object.values(await tableCounts(source3xUrl)).reduce((a, b) => a + b, 0);
      log('3×: Totes Lake extract');
      const lake3x = path.join(DATA, 'lake-3x');
      const run = await runMeasured(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'stage-child.ts'), 'extract', '--lake', lake3x, '--source-url', source3xUrl, '--warehouse-url', warehouseUrl], { cwd: ROOT });
      extract3x = { report: lastJsonLine<StageReport>(run.stdout), wallMs: run.wallMs, sampledRssMb: run.peakRssMb, rows: rows3x };
      await fs.rm(lake3x, { recursive: true, force: true });
    }

    // 9. Results.
    const peak = (s: { report: StageReport; sampledRssMb: number }): number => Math.max(s.report.peakRssMb, s.sampledRssMb);
    const extractS = stages.extract.report.ms / 1000;
    const transformS = stages.transform.report.ms / 1000;
    const loadS = stages.load.report.ms / 1000;
    const fullS = extractS + transformS + loadS;
    const oneRunS = oneRun.report.ms / 1000;
    const floorS = floorOut.seconds + floorParquet.seconds + floorIn.seconds;
    const rows: BenchRow[] = [
      { stage: 'floor: psql COPY TO STDOUT → JSON lines', seconds: floorOut.seconds, rows: floorOut.rows, peakRssMb: floorOut.peakRssMb },
      { stage: 'floor: DuckDB JSON lines → Parquet', seconds: floorParquet.seconds, rows: floorParquet.rows },
      { stage: 'floor: psql COPY FROM STDIN star rows (CSV)', seconds: floorIn.seconds, rows: floorIn.rows, peakRssMb: floorIn.peakRssMb },
      { stage: '**floors, summed**', seconds: floorS },
      { stage: 'Totes Lake extract', seconds: extractS, rows: sourceRows, floorS: floorOut.seconds, peakRssMb: peak(stages.extract) },
      { stage: 'Totes Lake transform', seconds: transformS, rows: sourceRows, floorS: floorParquet.seconds, peakRssMb: peak(stages.transform) },
      { stage: 'Totes Lake load', seconds: loadS, rows: starRows, floorS: floorIn.seconds, peakRssMb: peak(stages.load) },
      { stage: '**Totes Lake full first cycle** (the stages run apart, summed)', seconds: fullS, rows: sourceRows, floorS, peakRssMb: Math.max(peak(stages.extract), peak(stages.transform), peak(stages.load)) },
      {
        stage: `Totes Lake full first cycle as one run (\`totes run\`; extract ${(oneRun.report.timings.extractMs / 1000).toFixed(1)} s, transform ${(oneRun.report.timings.transformMs / 1000).toFixed(1)} s, load ${(oneRun.report.timings.loadMs / 1000).toFixed(1)} s)`,
        seconds: oneRunS,
        rows: sourceRows,
        floorS,
        peakRssMb: peak(oneRun),
      },
      { stage: `Totes Lake incremental, 1,000 changed rows, warm (median of ${WARM_CYCLES})`, seconds: warmMs / 1000, rows: 1000, peakRssMb: Math.max(warm.peakRssMb, warmRun.peakRssMb) },
      { stage: '… the same without the recommended last_updated indexes', seconds: warmUnindexedMs / 1000, rows: 1000, peakRssMb: Math.max(warmUnindexed.report.peakRssMb, warmUnindexed.peakRssMb) },
      ...(warm.compactionCycle ? [{ stage: '… a cycle that also compacts the deltas (at most hourly)', seconds: warm.compactionCycle.ms / 1000, rows: 1000 }] : []),
      { stage: '… with a writer in flight at the previous snapshot (rescues 100 late versions)', seconds: inflightMs / 1000, rows: 1100, peakRssMb: Math.max(warmInflight.report.peakRssMb, warmInflight.peakRssMb) },
      { stage: `Totes Lake incremental, 5 simulated minutes of business, warm (median of ${WARM_CYCLES}: an hour)`, seconds: activityMs / 1000, rows: activityRows, peakRssMb: Math.max(warmActivity.report.peakRssMb, warmActivity.peakRssMb) },
      { stage: `… its transform's engine queries per batch: ${queriesPerBatch}, critical path ${criticalPathPerBatch} (median of ${WARM_CYCLES})` },
      { stage: `… the hour's mean, its compactions included (${activityCompacting} of ${WARM_CYCLES} cycles compacted)`, seconds: activityMeanMs / 1000, rows: activityRows },
      ...(small
        ? [{ stage: `… the same on a source of ${small.orders.toLocaleString('en-GB')} sales orders (${orders.toLocaleString('en-GB')} ÷ ${small.orders.toLocaleString('en-GB')}: ${activityRatioToSmall!.toFixed(2)}× the time)`, seconds: small.ms / 1000, rows: small.rows, peakRssMb: small.peakRssMb }]
        : [{ stage: '… the same on a smaller source: not run (--skip-small)' }]),
      { stage: '… the same without the recommended last_updated indexes', seconds: activityUnindexedMs / 1000, rows: median(activityUnindexed.report.cycles.map((c) => c.rows)), peakRssMb: Math.max(activityUnindexed.report.peakRssMb, activityUnindexed.peakRssMb) },
      { stage: 'Totes Lake cold `totes run`, nothing new (wall, median of 3)', seconds: coldS, peakRssMb: Math.max(...colds.map((c) => c.peakRssMb)) },
    ];
    if (soak) {
      rows.push({
        stage: `Totes Lake under write load: ${soak.written.seconds} s of ${soak.clients} pgbench writers (${soak.written.tps.toFixed(0)} tps), ${soak.extracts} extracts — ${soak.versionsLost} versions lost, ${soak.duplicated} duplicated`,
        rows: soak.mustVersions,
      });
    }
    if (dlt) rows.push({ stage: `dlt ${String(dlt.detail.dlt)} sql_database (${values['dlt-backend']}) → Parquet`, seconds: dlt.seconds, rows: dlt.rows, floorS: floorOut.seconds + floorParquet.seconds, peakRssMb: dlt.peakRssMb });
    else rows.push({ stage: `dlt: not run — ${dltReason}` });
    rows.push({ stage: `naive: one INSERT per fact row (${naive.rows} sampled, extrapolated to ${factRows} fact rows)`, seconds: factRows / naive.rowsPerS, rows: factRows, floorS: floorIn.seconds });
    // The lake at a year of age (its own synthesized lake, not this run's): fact partitions and query times, before and after the fact compaction.
    const year = values['skip-year']
      ? undefined
      : await yearLakeBench({ engines: values['year-engines'].split(',').map((e) => e.trim()) as ('duckdb' | 'trino')[], dir: path.join(DATA, 'year-lake') });
    if (year) {
      for (const [engine, t] of Object.entries(year.engines)) {
        if (t && 'ms' in t) rows.push({ stage: `year-old lake on ${engine}: sql/analysis/ after compaction ÷ one compacted table (before compaction: ${t.query_ratio_before}×)`, seconds: t.analysis_ms.after / 1000, floorS: t.analysis_ms.floor / 1000 });
      }
      Object.assign(results, yearResults(year), { year_measured_in_this_run: true });
    } else {
      // --skip-year: keep the year-old lake's fields of the last run that measured it, marked as such.
      const previous = JSON.parse(await fs.readFile(path.join(ROOT, 'bench', 'results.json'), 'utf8').catch(() => '{}')) as Record<string, unknown>;
      const kept = Object.entries(previous).filter(([key]) => key.startsWith('year_') && key !== 'year_measured_in_this_run');
      if (kept.length) Object.assign(results, Object.fromEntries(kept), { year_measured_in_this_run: false });
    }
    if (extract3x) rows.push({ stage: 'Totes Lake extract at 3× rows', seconds: extract3x.report.ms / 1000, rows: extract3x.rows, peakRssMb: peak(extract3x) });

    Object.assign(results, {
      floor_s: floorS,
      floor_copy_out_s: floorOut.seconds,
      floor_duckdb_parquet_s: floorParquet.seconds,
      floor_copy_in_s: floorIn.seconds,
      full_cycle_s: fullS,
      ratio_full_to_floor: fullS / floorS,
      full_cycle_one_run_s: oneRunS,
      ratio_full_one_run_to_floor: oneRunS / floorS,
      full_cycle_one_run_stages_s: { extract: oneRun.report.timings.extractMs / 1000, transform: oneRun.report.timings.transformMs / 1000, load: oneRun.report.timings.loadMs / 1000 },
      full_cycle_one_run_peak_rss_mb: peak(oneRun),
      extract_s: extractS,
      transform_s: transformS,
      load_s: loadS,
      stage_wall_s: { extract: stages.extract.wallMs / 1000, transform: stages.transform.wallMs / 1000, load: stages.load.wallMs / 1000 },
      incremental_warm_ms: warmMs,
      incremental_cycles: warm.cycles,
      incremental_source_indexes: RECOMMENDED_INDEXES,
      incremental_warm_ms_unindexed: warmUnindexedMs,
      incremental_inflight_ms: inflightMs,
      incremental_inflight_cycles: warmInflight.report.cycles,
      incremental_cycles_unindexed: warmUnindexed.report.cycles,
      incremental_compaction_ms: warm.compactionCycle?.ms ?? null,
      incremental_activity_ms: activityMs,
      incremental_activity_cycles: warmActivity.report.cycles,
      incremental_activity_mean_ms: activityMeanMs,
      incremental_activity_compacting_cycles: activityCompacting,
      incremental_activity_warmup_batch_ms: warmActivity.report.warmupBatchMs ?? null,
      incremental_activity_ms_unindexed: activityUnindexedMs,
      incremental_activity_cycles_unindexed: activityUnindexed.report.cycles,
      incremental_activity_ms_100k: small?.ms ?? null,
      incremental_activity_cycles_100k: small?.cycles ?? null,
      incremental_activity_100k_orders: small?.orders ?? null,
      ratio_incremental_activity_to_100k: activityRatioToSmall,
      queries_per_batch: queriesPerBatch,
      critical_path_queries_per_batch: criticalPathPerBatch,
      incremental_compaction_cycle: warm.compactionCycle ?? null,
      cold_run_noop_s: coldS,
      cold_runs_s: colds.map((c) => c.wallMs / 1000),
      extract_peak_rss_mb: peak(stages.extract),
      extract_peak_rss_mb_3x: extract3x ? peak(extract3x) : null,
      extract_3x_s: extract3x ? extract3x.report.ms / 1000 : null,
      transform_peak_rss_mb: peak(stages.transform),
      load_peak_rss_mb: peak(stages.load),
      naive_load_rows_per_s: naive.rowsPerS,
      naive_sample_rows: naive.rows,
      load_rows_per_s: starRows / loadS,
      load_fact_rows_per_s: factRows / loadS,
      load_to_naive: starRows / loadS / naive.rowsPerS,
      star_rows: stages.load.report.rows,
      load_versions_lost: soak ? soak.versionsLost : null,
      load_versions_duplicated: soak ? soak.duplicated : null,
      load_write_tps: soak ? soak.written.tps : null,
      load_soak: soak
        ? { seconds: soak.written.seconds, writers: soak.clients, probe: soak.probe, transactions: soak.written.transactions, failed: soak.written.failed, extracts: soak.extracts, published: soak.published, must_versions: soak.mustVersions, problems: soak.problems }
        : null,
      dlt_extract_s: dlt ? dlt.seconds : null,
      ratio_extract_to_dlt: dlt ? extractS / dlt.seconds : null,
      dlt_wall_s: dlt ? dlt.wallS : null,
      dlt_peak_rss_mb: dlt ? dlt.peakRssMb : null,
      dlt_reason: dlt ? null : dltReason,
      dlt_detail: dlt?.detail ?? null,
      targets: {
        full_cycle_le_2x_floor: fullS <= 2 * floorS,
        incremental_le_300ms: warmMs <= 300,
        incremental_activity_le_100ms: activityMs <= 100,
        incremental_warm_le_150ms: warmMs <= 150,
        incremental_activity_flat_from_100k: activityRatioToSmall === null ? null : activityRatioToSmall <= 1.2,
        queries_per_batch_le_12: queriesPerBatch <= 12,
        critical_path_queries_per_batch_le_5: criticalPathPerBatch <= 5,
        cold_noop_le_2s: coldS <= 2,
        extract_rss_le_300mb: peak(stages.extract) <= 300,
        extract_rss_3x_le_110pct: extract3x ? peak(extract3x) <= 1.1 * peak(stages.extract) : null,
        load_ge_50x_naive: starRows / loadS >= 50 * naive.rowsPerS,
        load_versions_lost_0: soak ? soak.versionsLost === 0 && soak.duplicated === 0 && soak.problems.length === 0 : null,
      },
      // The offline cloud's Athena figures per batch (queries, critical path, bytes scanned), as
      // `npm run test:cloud` last wrote them (test/cloud/pipeline.cloud.ts); null before its first run.
      cloud_athena: await fs.readFile(path.join(ROOT, 'bench', 'cloud-results.json'), 'utf8').then((t) => JSON.parse(t) as unknown, () => null),
      machine: machine(),
      load_average_before: loadBefore,
      load_average_after: os.loadavg(),
      bench_s: (performance.now() - benchStarted) / 1000,
      finished_at: new Date().toISOString(),
      command: `npm run bench -- --orders ${orders}${values['skip-small'] ? ' --skip-small' : smallOrders !== 100_000 ? ` --small-orders ${smallOrders}` : ''}`,
    });
    const table = markdownTable(rows);
    results.table = table;
    await fs.mkdir(path.join(ROOT, 'bench'), { recursive: true });
    await fs.writeFile(path.join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\n${table}\n\nResults: bench/results.json${notes.length ? `\n${notes.join('\n')}` : ''}\n`);
  } finally {
    if (serverDir) execFileSync('bash', [path.join(ROOT, 'test/support/pg-server.sh'), 'stop', serverDir], { stdio: 'inherit' });
    if (!values.keep) await fs.rm(DATA, { recursive: true, force: true });
  }
}

function dbName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

function sqlalchemyUrl(url: string): string {
  return url.replace(/^postgres(ql)?:\/\//, 'postgresql+psycopg2://');
}

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bench: refusing identifier "${name}"`);
  return `"${name}"`;
};

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

/** Drops and creates a database on the server of `url` (optionally as a copy of `template`). */
async function recreateDatabase(url: string, name: string, template?: string): Promise<void> {
  const admin = withDatabase(url, 'postgres');
  await sql(admin, `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
  await sql(admin, `CREATE DATABASE ${ident(name)}${template ? ` TEMPLATE ${ident(template)}` : ''}`);
}

async function dropDatabase(url: string, name: string): Promise<void> {
  await sql(withDatabase(url, 'postgres'), `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
}

async function setReplicaRole(url: string, database: string, on: boolean): Promise<void> {
  await sql(withDatabase(url, 'postgres'), on ? `ALTER DATABASE ${ident(database)} SET session_replication_role = replica` : `ALTER DATABASE ${ident(database)} RESET session_replication_role`);
}

async function tableCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const counts: Record<string, number> = {};
    for (const t of SOURCE_TABLE_NAMES) counts[t] = Number((await client.query(`SELECT count(*) AS n FROM ${ident(t)}`)).rows[0].n);
    return counts;
  } finally {
    await client.end();
  }
}

/**
 * Triples the order tables of a source copy in place: two more copies of every sales order,
 * purchase order, transaction and payment, with ids shifted past the originals (links shifted
 * alike), so the extract reads 3× the rows of the same shape.
 */
async function triple(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET session_replication_role = replica');
    const max = (await client.query<{ so: number; po: number; tr: number; pay: number }>(
      `SELECT (SELECT coalesce(max(sales_order_id), 0) FROM sales_order)::int AS so, (SELECT coalesce(max(purchase_order_id), 0) FROM purchase_order)::int AS po,
              (SELECT coalesce(max(transaction_id), 0) FROM "transaction")::int AS tr, (SELECT coalesce(max(payment_id), 0) FROM payment)::int AS pay`,
    )).rows[0];
    const shifts: Record<string, Record<string, number>> = {
      sales_order: { sales_order_id: max.so },
      purchase_order: { purchase_order_id: max.po },
      transaction: { transaction_id: max.tr, sales_order_id: max.so, purchase_order_id: max.po },
      payment: { payment_id: max.pay, transaction_id: max.tr },
    };
    for (const k of [1, 2]) {
      for (const [table, shift] of Object.entries(shifts)) {
        const columns = SOURCE_TABLES.find((t) => t.name === table)!.columns.map((c) => c.name);
        const select = columns.map((c) => (shift[c] !== undefined ? `${ident(c)} + ${k * shift[c]}` : ident(c)));
        await client.query(`INSERT INTO ${ident(table)} (${columns.map(ident).join(', ')}) SELECT ${select.join(', ')} FROM ${ident(table)} WHERE ${ident(columns[0])} <= $1`, [shift[columns[0]]]);
      }
    }
    await client.query('RESET session_replication_role');
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

/** Installs the peer the way .ci/run installs Trino: once, into a venv under .cache/ (test/bench/install-dlt.sh). */
async function installDlt(log: (message: string) => void): Promise<string | undefined> {
  log('peer: dlt is not installed; installing it (bash test/bench/install-dlt.sh, once)');
  try {
    execFileSync('bash', [path.join(__dirname, 'install-dlt.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    return undefined;
  }
  return dltPython();
}

async function dltPython(): Promise<string | undefined> {
  for (const dir of [path.join(ROOT, '.cache', 'dlt-venv'), path.join(os.homedir(), '.cache', 'totes-lake', 'dlt-venv')]) {
    const python = path.join(dir, 'bin', 'python');
    try {
      await fs.access(python);
      execFileSync(python, ['-c', 'import dlt'], { stdio: 'ignore' });
      return python;
    } catch {
      // not here
    }
  }
  return undefined;
}

function machine(): Record<string, unknown> {
  let pgVersion = '';
  try {
    pgVersion = execFileSync('psql', ['--version']).toString().trim();
  } catch {
    pgVersion = 'unknown';
  }
  return {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgVersion,
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
