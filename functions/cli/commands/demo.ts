import { promises as fs } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Log } from '../../core/ports/log';
import { runCycle, type CycleResult } from '../../core/run-cycle';
import { STAR_TABLE_NAMES } from '../../core/contract/star-tables';
import { readWarehouseTable, warehouseRowCounts } from '../../core/load/load';
import { seedTotesys } from '../../totesys/seed';
import { simulateActivity } from '../../totesys/simulate';
import { parseCommand } from '../cli-options';
import { openLocalPipeline, REPO_ROOT } from '../local-context';
import { textTable } from '../text-table';
import { ms } from './run';

export const DEMO_HELP = `totes demo   (what \`npm start\` runs)
  Seeds embedded totesys on first use, runs a full cycle, applies a burst of simulated activity,
  runs an incremental cycle, then prints every warehouse table, the stage timings and a sample
  analytical query over the warehouse.`;

export async function demoCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { common } = parseCommand(argv, {});
  const log = makeLog(common.json, common.verbose);
  const out = (text = '') => process.stdout.write(`${text}\n`);
  const started = Date.now();
  const pipeline = await openLocalPipeline(common, log);
  try {
    const { ctx } = pipeline;
    const sourceUrl = await ctx.source.url();
    if (!(await hasTotesys(sourceUrl))) {
      log.info(`Seeding totesys (${ctx.source.description})…`);
      const seeded = await seedTotesys(sourceUrl, { scale: 1, seed: 42 });
      log.info('Seeded totesys', { ...seeded });
    }
    const cycles: [string, CycleResult][] = [];
    log.info('Cycle 1: extract → transform → load');
    cycles.push(['cycle 1', await runCycle(ctx, { commitLagSeconds: common.commitLagMs / 1000 })]);
    log.info('Simulating 30 minutes of activity on totesys…');
    const activity = await simulateActivity(sourceUrl, { minutes: 30 });
    log.info('Simulated activity', { ...activity });
    log.info('Cycle 2: incremental');
    cycles.push(['cycle 2', await runCycle(ctx, { commitLagSeconds: common.commitLagMs / 1000 })]);

    const warehouseUrl = await ctx.warehouse.url();
    out('\n== Warehouse tables (schema ' + ctx.warehouseSchema + ') ==');
    const counts = await warehouseRowCounts(warehouseUrl, ctx.warehouseSchema);
    for (const table of STAR_TABLE_NAMES) {
      const rows = await readWarehouseTable(warehouseUrl, ctx.warehouseSchema, table);
      out(`\n${table} — ${counts[table] ?? rows.length} rows${rows.length > 5 ? ' (first 5)' : ''}`);
      out(textTable(rows.slice(0, 5)));
    }
    out('\n== Stage timings ==');
    out(
      textTable(
        cycles.map(([name, c]) => ({
          cycle: name,
          batch: c.extract.published ? c.extract.batchId : '(nothing new)',
          rows: Object.values(c.extract.rows).reduce((a, b) => a + (b ?? 0), 0),
          extract: ms(c.timings.extractMs),
          transform: ms(c.timings.transformMs),
          load: ms(c.timings.loadMs),
          total: ms(c.timings.totalMs),
        })),
      ),
    );
    const sqlFile = path.join(REPO_ROOT, 'sql', 'analysis', 'sales_by_month_and_currency.sql');
    out(`\n== Sample analytical query over the warehouse (${path.relative(REPO_ROOT, sqlFile)}) ==`);
    out(textTable(await queryWarehouse(warehouseUrl, ctx.warehouseSchema, await fs.readFile(sqlFile, 'utf8'))));
    out(`\nDone in ${ms(Date.now() - started)}. The lake is in ${common.lake}; try: npx totes query "SELECT * FROM dim_currency"`);
    return 0;
  } finally {
    await pipeline.close();
  }
}

async function hasTotesys(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query("SELECT to_regclass('sales_order') IS NOT NULL AS present");
    return r.rows[0].present === true;
  } finally {
    await client.end();
  }
}

async function queryWarehouse(url: string, schema: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT set_config($1, $2, false)', ['search_path', schema]);
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
