/**
 * Where a five-minute cycle's fixed time goes, stage by stage (issue 14, item 1): besides the
 * engine calls `profile-activity.ts` times, every object-store and catalog call and every
 * PostgreSQL round trip (source and warehouse, connections included), each with its start and
 * duration within the cycle:
 *
 *   tsx test/bench/trace-cycle.ts --source-url URL --warehouse-url URL --lake DIR [--cycles 5] [--detail]
 *
 * The source must be seeded already (profile-activity.ts seeds an empty one; the lake may be new or
 * one it left). Runs a first cycle, then `cycles` cycles of 5 simulated minutes of business each,
 * and prints per cycle the stage times (E extract, T transform, L load, R the run record and
 * freshness after the load, which the bench's cycle time includes) and, per stage, the calls of each
 * kind (count, summed ms; calls in flight together overlap); with `--detail` every call in order.
 * Then the medians per stage over the cycles. Calls are timed from outside: pg's `Client.query` and
 * `connect` are wrapped (a COPY stream until it ends), the stores, catalog and engine through proxies.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { silentLog } from '../../functions/core/ports/log';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import { runCycle } from '../../functions/core/run-cycle';
import { simulateActivity } from '../../functions/totesys/simulate';
import { median } from './bench-util';

interface Call { kind: string; what: string; t0: number; t1: number }
const calls: Call[] = [];
let origin = 0;

function timedCall<T>(kind: string, what: string, running: Promise<T>): Promise<T> {
  const t0 = performance.now() - origin;
  const done = (): void => void calls.push({ kind, what, t0, t1: performance.now() - origin });
  running.then(done, done);
  return running;
}

/** `target` with each of its methods timed as a call of `kind` (an async iterable `list` until it is consumed). */
function traced<T extends object>(target: T, kind: string): T {
  return new Proxy(target, {
    get(object, prop, receiver) {
      const value: unknown = Reflect.get(object, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (prop === 'list') {
        return (prefix: string, options?: unknown) => {
          const listing = method.call(object, prefix, options) as AsyncIterable<unknown>;
          return (async function* () {
            const t0 = performance.now() - origin;
            let n = 0;
            try {
              for await (const item of listing) { n++; yield item; }
            } finally {
              calls.push({ kind, what: `list ${prefix} (${n} keys; the consumer's work in between counts too)`, t0, t1: performance.now() - origin });
            }
          })();
        };
      }
      return (...args: unknown[]) => {
        const result = method.apply(object, args);
        const first = typeof args[0] === 'string' ? args[0].replace(/\s+/g, ' ').slice(0, 100) : '';
        return result instanceof Promise ? timedCall(kind, `${String(prop)} ${first}`, result) : result;
      };
    },
  });
}

/** pg's round trips and connections, timed (a COPY stream until it ends). */
function tracePostgres(): void {
  type Query = (...args: unknown[]) => unknown;
  const query = pg.Client.prototype.query as unknown as Query;
  (pg.Client.prototype as unknown as { query: Query }).query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : (first?.text ?? first?.constructor?.name ?? '?');
    const kind = `pg ${(this as unknown as { database: string }).database}`;
    const t0 = performance.now() - origin;
    const done = (): void => void calls.push({ kind, what: String(text).replace(/\s+/g, ' ').slice(0, 100), t0, t1: performance.now() - origin });
    const result = query.apply(this, args) as { then?: unknown; on?: (event: string, listener: () => void) => void };
    if (result instanceof Promise) result.then(done, done);
    else if (typeof result?.on === 'function') result.on('end', done);
    return result;
  };
  const connect = pg.Client.prototype.connect as unknown as Query;
  (pg.Client.prototype as unknown as { connect: Query }).connect = function (this: pg.Client, ...args: unknown[]) {
    const result = connect.apply(this, args);
    return result instanceof Promise ? timedCall(`pg ${(this as unknown as { database: string }).database}`, 'CONNECT', result) : result;
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { lake: { type: 'string' }, 'source-url': { type: 'string' }, 'warehouse-url': { type: 'string' }, cycles: { type: 'string', default: '5' }, detail: { type: 'boolean', default: false } },
  });
  if (!values.lake || !values['source-url'] || !values['warehouse-url']) throw new Error('trace-cycle: --lake, --source-url and --warehouse-url are required');
  const sourceUrl = values['source-url'];
  tracePostgres();
  const pipeline = await openLocalPipeline(
    { lake: values.lake, sourceUrl, warehouseUrl: values['warehouse-url'], warehouseSchema: 'public', engine: 'duckdb', commitLagMs: 0, json: false, verbose: false },
    silentLog,
  );
  const base = pipeline.ctx;
  const ctx: PipelineContext = { ...base, ingestion: traced(base.ingestion, 'ingestion'), processed: traced(base.processed, 'processed'), catalog: traced(base.catalog, 'catalog'), engine: traced(base.engine, 'engine') };
  const stages: Record<string, number[]> = { E: [], T: [], L: [], R: [], cycle: [], cpu: [] };
  try {
    await runCycle(ctx);
    for (let i = 0; i < Number(values.cycles); i++) {
      await simulateActivity(sourceUrl, { minutes: 5, seed: Date.now() % 1_000_000 });
      await new Promise((r) => setTimeout(r, 20)); // the upper bound is exclusive and ms-truncated
      calls.length = 0;
      origin = performance.now();
      const cpu0 = process.cpuUsage();
      const cycle = await runCycle(ctx);
      const cpuUsed = process.cpuUsage(cpu0);
      const cpuMs = (cpuUsed.user + cpuUsed.system) / 1000;
      const wall = performance.now() - origin;
      const { extractMs, transformMs, loadMs } = cycle.timings;
      const ends = { E: extractMs, T: extractMs + transformMs, L: extractMs + transformMs + loadMs };
      const stageOf = (t: number): string => (t < ends.E ? 'E' : t < ends.T ? 'T' : t < ends.L ? 'L' : 'R');
      for (const [stage, ms] of Object.entries({ E: extractMs, T: transformMs, L: loadMs, R: wall - ends.L, cycle: wall, cpu: cpuMs })) stages[stage].push(ms);
      const rows = Object.values(cycle.extract.rows).reduce((a, b) => a + (b ?? 0), 0);
      process.stdout.write(`cycle ${i + 1}: ${wall.toFixed(0)} ms (${cpuMs.toFixed(0)} ms of CPU in this process, DuckDB's threads included), ${rows} rows (E ${extractMs}, T ${transformMs}, L ${loadMs}, R ${(wall - ends.L).toFixed(0)})\n`);
      const byKind = new Map<string, { n: number; ms: number }>();
      for (const c of calls) {
        const key = `${stageOf(c.t0)} ${c.kind}`;
        const sum = byKind.get(key) ?? { n: 0, ms: 0 };
        byKind.set(key, { n: sum.n + 1, ms: sum.ms + c.t1 - c.t0 });
      }
      for (const [key, { n, ms }] of [...byKind].sort(([a], [b]) => (a < b ? -1 : 1))) process.stdout.write(`   ${key.padEnd(20)} ${String(n).padStart(4)} calls ${ms.toFixed(1).padStart(8)} ms\n`);
      if (values.detail) {
        for (const c of [...calls].sort((a, b) => a.t0 - b.t0)) {
          process.stdout.write(`  ${stageOf(c.t0)} ${c.t0.toFixed(1).padStart(7)} ${(c.t1 - c.t0).toFixed(1).padStart(6)}  ${c.kind.padEnd(14)} ${c.what}\n`);
        }
      }
    }
    process.stdout.write(`medians over ${values.cycles} cycles: ${Object.entries(stages).map(([k, v]) => `${k} ${median(v).toFixed(0)}`).join(', ')} ms\n`);
  } finally {
    await pipeline.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
