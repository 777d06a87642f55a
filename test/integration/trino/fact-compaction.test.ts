import { promises as fs } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { withCurrentViews } from '../../../functions/core/analysis/current-views';
import { STAR_TABLES } from '../../../functions/core/contract/star-tables';
import { extract } from '../../../functions/core/extract/extract';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import { compactFacts } from '../../../functions/core/transform/fact-compaction';
import { lakeBindings } from '../../../functions/core/transform/lake-bindings';
import { transformPending } from '../../../functions/core/transform/transform';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { REPO_ROOT } from '../../../functions/local/folder-pipeline';
import { describeRequiring } from '../../support/requires';
import { trinoSkipReason } from '../../support/trino-server';
import { openTrinoLake, type TrinoLake } from './trino-lake';
import type { TestDatabase } from '../../support/test-postgres';

/**
 * The facts' compaction (functions/core/transform/fact-compaction.ts) run by Trino, the engine
 * Athena is: sql/compaction/<fact>.sql written as a CTAS partitioned by created_month, checked and
 * published; the four analysis queries and every fact's history answer the same before and after,
 * on Trino and on DuckDB reading the months Trino wrote.
 */
const skipReason = trinoSkipReason();
const FACTS = STAR_TABLES.filter((t) => t.kind === 'fact');

describeRequiring('fact compaction on Trino', skipReason, () => {
  let lake: TrinoLake;
  let db: TestDatabase;
  let ctx: PipelineContext;
  let duck: DuckDbEngine;

  beforeAll(async () => {
    lake = await openTrinoLake('compaction');
    ({ db, ctx, duck } = lake);
  }, 900_000);

  afterAll(async () => {
    await lake?.close();
  });

  async function batch(ids: number[]): Promise<void> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const id of ids) {
        await client.query(`UPDATE sales_order SET units_sold = units_sold + 1, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id = $1`, [id]);
        await client.query(`UPDATE payment SET paid = NOT paid, last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE payment_id = $1`, [id]);
      }
    } finally {
      await client.end();
    }
    await extract(ctx);
    await transformPending(ctx);
  }

  async function answers(engine: QueryEngine): Promise<Record<string, string[]>> {
    const bindings = await lakeBindings(ctx);
    const out: Record<string, string[]> = {};
    const dir = path.join(REPO_ROOT, 'sql', 'analysis');
    const text = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(Object.values(r).map((v) => (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : String(v)))));
    for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.sql')).sort()) {
      out[name] = text(await engine.query(withCurrentViews(await fs.readFile(path.join(dir, name), 'utf8')), bindings));
    }
    for (const fact of FACTS) {
      const [id] = fact.key;
      out[fact.name] = text(await engine.query(`SELECT ${id}, CAST(last_updated_date AS varchar) AS d, last_updated_time, _batch_id, count(*) AS copies FROM ${fact.name} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, bindings));
      // Athena's view columns (aws/fact-view.ts), bound locally by lakeBindings on either engine.
      out[`${fact.name} by month`] = text(await engine.query(`SELECT created_month, batch_id, count(*) AS versions FROM ${fact.name} WHERE batch_id = _batch_id GROUP BY 1, 2 ORDER BY 1, 2`, bindings));
    }
    return out;
  }

  it('runs sql/compaction on Trino: months partitioned by created_month, every answer the same on Trino and DuckDB', async () => {
    await extract(ctx);
    await transformPending(ctx);
    await batch([1, 2]);
    await batch([2, 3]);
    const beforeTrino = await answers(ctx.engine);
    const beforeDuck = await answers(duck);
    expect(beforeTrino.fact_sales_order.length).toBeGreaterThan(3);

    const results = await compactFacts(ctx, { force: true });
    expect(results.map((r) => r.outcome)).toEqual(['compacted', 'compacted', 'compacted']);
    for (const fact of FACTS) {
      const partitions = await ctx.catalog.partitions(fact.name);
      expect(partitions.length).toBeGreaterThan(0);
      for (const p of partitions) {
        expect(p.month).toMatch(/^\d{4}-\d{2}$/);
        const files: string[] = [];
        for await (const { key } of ctx.processed.list(p.prefix)) files.push(key);
        expect(files.filter((f) => f.endsWith('.parquet')).length).toBeGreaterThan(0);
      }
    }
    expect(await answers(ctx.engine)).toEqual(beforeTrino);
    expect(await answers(duck)).toEqual(beforeDuck);

    // A later batch adds versions to compacted months; the next compaction rewrites them in place.
    await batch([1, 4]);
    const mixed = await answers(ctx.engine);
    const again = await compactFacts(ctx, { force: true });
    expect(again.find((r) => r.table === 'fact_sales_order')?.outcome).toBe('compacted');
    expect(await answers(ctx.engine)).toEqual(mixed);
    expect((await ctx.catalog.partitions('fact_sales_order')).every((p) => p.month !== undefined)).toBe(true);
  }, 900_000);
});
