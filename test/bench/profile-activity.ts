/**
 * Where an activity cycle's transform time goes, statement by statement (issue 14, item 1), and
 * how many round trips it makes (item 2):
 *
 *   tsx test/bench/profile-activity.ts --source-url URL --warehouse-url URL --lake DIR [--orders N] [--cycles 5]
 *                                      [--engine duckdb|trino [--trino-url URL]]
 *
 * Seeds the source when it is empty (N sales orders, the seed's shape), runs a first cycle, then
 * `cycles` cycles of 5 simulated minutes of business each, and prints per cycle the stage times,
 * the batch's engine queries as its transform manifest records them (`engineQueries`: statements,
 * critical path, bytes scanned; functions/core/transform/query-tally.ts) and every engine call of
 * the transform (write or query, its target or first line, ms), slowest first; then the medians
 * over the cycles, as the bench reports them (`queries_per_batch`, `critical_path_queries_per_batch`).
 * With `--engine trino` and no `--trino-url`, the test suite's Trino server is started
 * (test/support/trino-server.ts) and stopped at the end; the lake must then be new or Trino's.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { silentLog } from '../../functions/core/ports/log';
import type { QueryEngine } from '../../functions/core/ports/query-engine';
import { runCycle } from '../../functions/core/run-cycle';
import { seedTotesys } from '../../functions/totesys/seed';
import { simulateActivity } from '../../functions/totesys/simulate';
import { startTrino, type TrinoTestServer } from '../support/trino-server';
import { median } from './bench-util';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lake: { type: 'string' },
      'source-url': { type: 'string' },
      'warehouse-url': { type: 'string' },
      orders: { type: 'string', default: '200000' },
      cycles: { type: 'string', default: '5' },
      engine: { type: 'string', default: 'duckdb' },
      'trino-url': { type: 'string' },
    },
  });
  if (values.engine !== 'duckdb' && values.engine !== 'trino') throw new Error(`--engine must be duckdb or trino, got ${values.engine}`);
  const sourceUrl = values['source-url']!;
  const client = new pg.Client({ connectionString: sourceUrl });
  await client.connect();
  const has = await client.query(`SELECT to_regclass('sales_order') IS NOT NULL AS t`);
  const empty = !has.rows[0].t || Number((await client.query('SELECT count(*) AS n FROM sales_order')).rows[0].n) === 0;
  await client.end();
  if (empty) await seedTotesys(sourceUrl, { scale: Number(values.orders) / 7000 });
  let trino: TrinoTestServer | undefined;
  if (values.engine === 'trino' && !values['trino-url']) trino = await startTrino({ schema: 'profile' });
  const trinoUrl = values['trino-url'] ?? trino?.url;
  const pipeline = await openLocalPipeline(
    { lake: values.lake!, sourceUrl, warehouseUrl: values['warehouse-url'], warehouseSchema: 'public', engine: values.engine, trinoUrl, commitLagMs: 0, json: false, verbose: false },
    silentLog,
  );
  const calls: { what: string; ms: number; bytes?: number }[] = [];
  const engine = pipeline.ctx.engine;
  // Statements sent together run at once on every engine (DuckDB on a connection each,
  // engines/duckdb/client.ts), so the times of one wave overlap: their sum is not the transform's.
  const timed: QueryEngine = {
    name: engine.name,
    ...(engine.measuresScan ? { measuresScan: true } : {}),
    write: async (sql, bindings, target) => {
      const t0 = performance.now();
      let bytes: number | undefined;
      try {
        const stats = await engine.write(sql, bindings, target);
        bytes = engine.measuresScan ? stats.bytesScanned : undefined;
        return stats;
      } finally { calls.push({ what: `write ${target.prefix}`, ms: performance.now() - t0, bytes }); }
    },
    query: async (sql, bindings) => {
      const t0 = performance.now();
      try { return await engine.query(sql, bindings); } finally { calls.push({ what: `query ${sql.replace(/\s+/g, ' ').slice(0, 110)}`, ms: performance.now() - t0 }); }
    },
    ...(engine.select
      ? {
          select: async (sql: string, bindings?: Parameters<QueryEngine['query']>[1]) => {
            const t0 = performance.now();
            let bytes: number | undefined;
            try {
              const answer = await engine.select!(sql, bindings);
              bytes = answer.bytesScanned;
              return answer;
            } finally { calls.push({ what: `query ${sql.replace(/\s+/g, ' ').slice(0, 110)}`, ms: performance.now() - t0, bytes }); }
          },
        }
      : {}),
    close: () => engine.close(),
  };
  const ctx = { ...pipeline.ctx, engine: timed };
  const counted: { queries: number; criticalPath: number; bytesScanned: number | null }[] = [];
  try {
    await runCycle(ctx);
    await runCycle(ctx);
    for (let i = 0; i < Number(values.cycles); i++) {
      await simulateActivity(sourceUrl, { minutes: 5, seed: 2000 + i });
      await new Promise((r) => setTimeout(r, 20));
      calls.length = 0;
      const cycle = await runCycle(ctx);
      const sum = calls.reduce((s, c) => s + c.ms, 0);
      const queries = cycle.transformed.map((r) => r.manifest.engineQueries);
      if (queries.length !== 1 || !queries[0]) throw new Error(`cycle ${i + 1} transformed ${queries.length} batches (${JSON.stringify(queries)}), not one with engineQueries`);
      counted.push(queries[0]);
      process.stdout.write(`cycle ${i + 1}: ${JSON.stringify(cycle.timings)} engine queries ${JSON.stringify(queries[0])}; engine calls ${calls.length}, ${sum.toFixed(0)} ms\n`);
      for (const c of [...calls].sort((a, b) => b.ms - a.ms)) process.stdout.write(`  ${c.ms.toFixed(1).padStart(7)}${c.bytes === undefined ? '' : ` ${String(c.bytes).padStart(10)} B`} ${c.what}\n`);
    }
    const bytes = counted.map((c) => c.bytesScanned);
    if (counted.length) process.stdout.write(
      `${values.engine}, ${counted.length} cycles: queries_per_batch ${median(counted.map((c) => c.queries))}, critical_path_queries_per_batch ${median(counted.map((c) => c.criticalPath))}, ` +
        `bytes scanned per batch ${bytes.some((b) => b === null) ? 'unknown' : median(bytes as number[])} (medians)\n`,
    );
  } finally {
    await pipeline.close();
    await trino?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
