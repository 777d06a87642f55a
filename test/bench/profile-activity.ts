/**
 * Where an activity cycle's transform time goes, statement by statement (issue 14, item 1):
 *
 *   tsx test/bench/profile-activity.ts --source-url URL --warehouse-url URL --lake DIR [--orders N] [--cycles 5]
 *
 * Seeds the source when it is empty (N sales orders, the seed's shape), runs a first cycle, then
 * `cycles` cycles of 5 simulated minutes of business each, and prints per cycle the stage times and
 * every engine call of the transform (write or query, its target or first line, ms), slowest first.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openLocalPipeline } from '../../functions/cli/local-context';
import { silentLog } from '../../functions/core/ports/log';
import type { QueryEngine } from '../../functions/core/ports/query-engine';
import { runCycle } from '../../functions/core/run-cycle';
import { seedTotesys } from '../../functions/totesys/seed';
import { simulateActivity } from '../../functions/totesys/simulate';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { lake: { type: 'string' }, 'source-url': { type: 'string' }, 'warehouse-url': { type: 'string' }, orders: { type: 'string', default: '200000' }, cycles: { type: 'string', default: '5' } },
  });
  const sourceUrl = values['source-url']!;
  const client = new pg.Client({ connectionString: sourceUrl });
  await client.connect();
  const has = await client.query(`SELECT to_regclass('sales_order') IS NOT NULL AS t`);
  const empty = !has.rows[0].t || Number((await client.query('SELECT count(*) AS n FROM sales_order')).rows[0].n) === 0;
  await client.end();
  if (empty) await seedTotesys(sourceUrl, { scale: Number(values.orders) / 7000 });
  const pipeline = await openLocalPipeline(
    { lake: values.lake!, sourceUrl, warehouseUrl: values['warehouse-url'], warehouseSchema: 'public', engine: 'duckdb', commitLagMs: 0, json: false, verbose: false },
    silentLog,
  );
  const calls: { what: string; ms: number }[] = [];
  const engine = pipeline.ctx.engine;
  const timed: QueryEngine = {
    name: engine.name,
    write: async (sql, bindings, target) => {
      const t0 = performance.now();
      try { return await engine.write(sql, bindings, target); } finally { calls.push({ what: `write ${target.prefix}`, ms: performance.now() - t0 }); }
    },
    query: async (sql, bindings) => {
      const t0 = performance.now();
      try { return await engine.query(sql, bindings); } finally { calls.push({ what: `query ${sql.replace(/\s+/g, ' ').slice(0, 110)}`, ms: performance.now() - t0 }); }
    },
    close: () => engine.close(),
  };
  const ctx = { ...pipeline.ctx, engine: timed };
  try {
    await runCycle(ctx);
    await runCycle(ctx);
    for (let i = 0; i < Number(values.cycles); i++) {
      await simulateActivity(sourceUrl, { minutes: 5, seed: 2000 + i });
      await new Promise((r) => setTimeout(r, 20));
      calls.length = 0;
      const cycle = await runCycle(ctx);
      const sum = calls.reduce((s, c) => s + c.ms, 0);
      process.stdout.write(`cycle ${i + 1}: ${JSON.stringify(cycle.timings)} engine calls ${calls.length}, ${sum.toFixed(0)} ms\n`);
      for (const c of [...calls].sort((a, b) => b.ms - a.ms)) process.stdout.write(`  ${c.ms.toFixed(1).padStart(7)} ${c.what}\n`);
    }
  } finally {
    await pipeline.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
