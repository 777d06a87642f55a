/**
 * One measured piece of the pipeline, run in its own process so the bench can read its peak RSS
 * (`VmHWM` at exit, and the parent's /proc samples). Prints one JSON line as its report.
 *
 *   stage-child.ts extract|transform|load|cycle --lake DIR --source-url URL --warehouse-url URL
 *   stage-child.ts warm --lake DIR --source-url URL --warehouse-url URL --changes 1000 --repeats 3 [--compaction]
 *
 * `cycle` runs the three stages as one `runCycle` (run-cycle.ts), as `totes run` does.
 * `warm` opens the adapters once, runs a cycle that catches up with the source, then one untimed
 * change and cycle of the kind it measures (a process that has built such a batch before: DuckDB's
 * instance and connections, the code paths compiled, the source and warehouse connections kept; a
 * cycle with nothing new opens none of the engine), then `repeats` times: changes `changes` sales
 * orders in the source, and times one full cycle in the same process. The bench asks for 12, an
 * hour of five-minute cycles: the current states' deltas compact as often as they do in use
 * (current-compaction.ts: at most 11 deltas), so the median is that of an hour of business, not of
 * where a few cycles happened to fall. With `--compaction`, one more such cycle compacts the
 * current states' deltas into new bases (what happens at most once an hour in use) and is reported
 * apart, as `compactionCycle`. With `--activity M`, each change is M minutes of simulated business
 * (functions/totesys/simulate.ts: new orders with their transactions and payments, amendments,
 * payments turning paid) instead of `changes` updated sales orders. With `--inflight`, a writer is
 * in flight at the snapshot of the cycle before each timed one: it updates 100 sales orders stamped
 * 2 s before its start (a clock behind the database's), commits after that cycle's snapshot, and the
 * timed cycle rescues its versions below the cursor (functions/core/extract/late-commits.ts).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { extract } from '../../functions/core/extract/extract';
import { loadPending } from '../../functions/core/load/load';
import { silentLog } from '../../functions/core/ports/log';
import { runCycle } from '../../functions/core/run-cycle';
import { transformPending } from '../../functions/core/transform/transform';
import { DEFAULT_COMPACTION } from '../../functions/core/transform/current-compaction';
import { parseCurrentPrefix } from '../../functions/core/lake/lake-layout';
import { openLocalPipeline } from '../../functions/cli/local-context';
import type { TransformManifest } from '../../functions/core/lake/manifests';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { simulateActivity } from '../../functions/totesys/simulate';
import { ownPeakRssMb } from './measured-process';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      lake: { type: 'string' },
      'source-url': { type: 'string' },
      'warehouse-url': { type: 'string' },
      changes: { type: 'string', default: '1000' },
      repeats: { type: 'string', default: '3' },
      compaction: { type: 'boolean', default: false },
      activity: { type: 'string' },
      inflight: { type: 'boolean', default: false },
    },
  });
  const mode = positionals[0];
  const pipeline = await openLocalPipeline(
    {
      lake: values.lake!,
      sourceUrl: values['source-url'],
      warehouseUrl: values['warehouse-url'],
      warehouseSchema: 'public',
      engine: 'duckdb',
      commitLagMs: 0,
      json: false,
      verbose: false,
    },
    silentLog,
  );
  const ctx = pipeline.ctx;
  try {
    let report: Record<string, unknown>;
    const t0 = performance.now();
    if (mode === 'extract') {
      const r = await extract(ctx);
      report = { ms: performance.now() - t0, rows: r.rows, bytes: r.bytes, published: r.published };
    } else if (mode === 'transform') {
      const r = await transformPending(ctx);
      const rows: Record<string, number> = {};
      for (const batch of r) for (const [name, out] of Object.entries(batch.manifest.star)) rows[name] = (rows[name] ?? 0) + out.rows;
      report = { ms: performance.now() - t0, batches: r.length, rows };
    } else if (mode === 'load') {
      const r = await loadPending(ctx);
      const rows: Record<string, number> = {};
      for (const batch of r) for (const [name, t] of Object.entries(batch.tables)) rows[name] = (rows[name] ?? 0) + (t?.written ?? 0);
      report = { ms: performance.now() - t0, batches: r.length, rows, method: r[0]?.method };
    } else if (mode === 'cycle') {
      // The full first cycle as `totes run` and `npm start` run it: one process, the stages
      // chained by run-cycle.ts, each table's parse starting as soon as the extract has read it.
      const r = await runCycle(ctx);
      report = { ms: performance.now() - t0, timings: r.timings, rows: r.extract.rows };
    } else if (mode === 'warm') {
      const activityMinutes = values.activity === undefined ? undefined : Number(values.activity);
      report = await warm(ctx, values['source-url']!, {
        changes: Number(values.changes), repeats: Number(values.repeats), compaction: values.compaction!, activityMinutes, inflight: values.inflight!,
      });
    } else {
      throw new Error(`stage-child: unknown mode "${mode}" (extract, transform, load, cycle or warm)`);
    }
    report.peakRssMb = await ownPeakRssMb();
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await pipeline.close();
  }
}

interface WarmOptions {
  changes: number;
  repeats: number;
  compaction: boolean;
  /** Instead of `changes` updated sales orders, this many minutes of simulated business (new orders, transactions, payments, amendments). */
  activityMinutes?: number;
  /** A skewed writer in flight at the previous cycle's snapshot, committed before each timed cycle. */
  inflight?: boolean;
}

async function warm(ctx: PipelineContext, sourceUrl: string, { changes, repeats, compaction, activityMinutes, inflight }: WarmOptions): Promise<Record<string, unknown>> {
  const warmup = await runCycle(ctx);
  const source = new pg.Client({ connectionString: sourceUrl });
  await source.connect();
  const cycles: Record<string, unknown>[] = [];
  let compactionCycle: Record<string, unknown> | undefined;
  let warmupBatchMs: number | undefined;
  try {
    const max = await source.query<{ n: number }>('SELECT max(sales_order_id)::int AS n FROM sales_order');
    /** The source's change before cycle `i` (-1: the warm-up batch's): business, or a slice of sales orders. */
    const change = async (i: number): Promise<void> => {
      if (activityMinutes !== undefined) {
        await simulateActivity(sourceUrl, { minutes: activityMinutes, seed: 1000 + i });
      } else {
        // A different slice each time, spread over the table; last_updated from the database clock.
        const step = Math.max(1, Math.floor(max.rows[0].n / changes));
        await source.query(
          `UPDATE sales_order SET units_sold = units_sold + 1, last_updated = clock_timestamp()
            WHERE sales_order_id IN (SELECT g * $1::int - $2::int FROM generate_series(1, $3::int) g)`,
          [step, (i + step) % step, changes],
        );
      }
      await new Promise((r) => setTimeout(r, 20)); // the upper bound is exclusive and ms-truncated
    };
    // The warm-up batch, untimed in the median: the first batch a process builds pays for what
    // every later one reuses (opening DuckDB, compiling the code paths; 224–336 ms against 120–170
    // in the bench of 2026-12-07 21:55, where the first timed cycle followed a cycle with nothing new).
    await change(-1);
    const w0 = performance.now();
    await runCycle(ctx);
    warmupBatchMs = performance.now() - w0;
    for (let i = 0; i < repeats + (compaction ? 1 : 0); i++) {
      // With --compaction, one cycle more that folds the deltas into a new base (at most hourly in use).
      const compacting = i === repeats;
      const on: PipelineContext = compacting ? { ...ctx, compaction: { maxDeltas: 0 } } : ctx;
      await change(i);
      if (inflight) {
        // The cycle before the timed one runs with a skewed writer in flight; it commits after that
        // snapshot, below the cursor, so the timed cycle rescues it (and reads a fresh slice too).
        const writer = new pg.Client({ connectionString: sourceUrl });
        await writer.connect();
        try {
          await writer.query('BEGIN');
          await writer.query(
            `UPDATE sales_order SET unit_price = unit_price + 0.01, last_updated = (now() AT TIME ZONE 'UTC') - interval '2 s'
              WHERE sales_order_id IN (SELECT g * $1::int FROM generate_series(1, 100) g)`,
            [Math.max(1, Math.floor(max.rows[0].n / 100))],
          );
          await runCycle(on);
          await writer.query('COMMIT');
        } finally {
          await writer.end();
        }
        const step = Math.max(1, Math.floor(max.rows[0].n / changes));
        await source.query(
          `UPDATE sales_order SET units_sold = units_sold + 1, last_updated = clock_timestamp()
            WHERE sales_order_id IN (SELECT g * $1::int - $2::int FROM generate_series(1, $3::int) g)`,
          [step, (i + 1) % step, changes],
        );
        await new Promise((r) => setTimeout(r, 20));
      }
      const t0 = performance.now();
      const cycle = await runCycle(on);
      const ms = performance.now() - t0;
      const rows = Object.values(cycle.extract.rows).reduce((a, b) => a + (b ?? 0), 0);
      const rescued = Object.values(cycle.extract.manifest?.tables ?? {}).reduce((n, t) => n + (t.rescued?.rows ?? 0), 0);
      const queries = engineQueries(cycle.transformed.map((r) => r.manifest));
      if (compacting) compactionCycle = { ms, rows, ...cycle.timings, ...queries };
      else cycles.push({ ms, rows, ...(inflight ? { rescued } : {}), ...cycle.timings, ...queries });
    }
  } finally {
    await source.end();
  }
  return { warmupMs: warmup.timings.totalMs, warmupBatchMs, cycles, ...(compactionCycle ? { compactionCycle } : {}) };
}

/**
 * The engine round trips of a cycle's transform, from its batches' manifests (`engineQueries`,
 * functions/core/transform/query-tally.ts): statements sent, critical path (batches run one after
 * another, so paths add up) and bytes scanned (null on DuckDB, which does not report them).
 */
function engineQueries(manifests: readonly TransformManifest[]): { batches: number; queries: number; criticalPath: number; bytesScanned: number | null; compacted: string[] } {
  const counted = manifests.map((m) => m.engineQueries);
  // The current states whose base a batch rewrote though it is large (current-compaction.ts: a
  // smaller one is rewritten whenever it changes, at the cost of a delta).
  const compacted = manifests.flatMap((m) =>
    Object.entries(m.currentOutputs).filter(([, out]) => out.rows >= DEFAULT_COMPACTION.compactBelowRows && parseCurrentPrefix(out.prefix).batchId === m.batchId).map(([table]) => table),
  );
  if (counted.some((c) => c === undefined)) throw new Error('stage-child: a transform manifest without engineQueries');
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const bytes = counted.map((c) => c!.bytesScanned);
  return {
    batches: manifests.length,
    queries: sum(counted.map((c) => c!.queries)),
    criticalPath: sum(counted.map((c) => c!.criticalPath)),
    bytesScanned: bytes.some((b) => b === null) ? null : sum(bytes as number[]),
    compacted,
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
