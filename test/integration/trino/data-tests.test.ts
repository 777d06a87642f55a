import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { extract } from '../../../functions/core/extract/extract';
import { readExtractManifest, readTransformManifest } from '../../../functions/core/lake/manifest-log';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import { getText } from '../../../functions/core/ports/object-store';
import { quarantineKey } from '../../../functions/core/lake/lake-layout';
import { dataTests, FACT_SOURCES } from '../../../functions/core/transform/data-tests';
import { findRejectedVersions } from '../../../functions/core/transform/input-checks';
import { transformPending } from '../../../functions/core/transform/transform';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { openFolderPipeline, type FolderPipeline } from '../../../functions/local/folder-pipeline';
import { seedTotesys } from '../../../functions/totesys/seed';
import { createTrinoEngine } from '../../../functions/engines/trino/engine';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';
import { describeRequiring } from '../../support/requires';
import { startTrino, trinoSkipReason, type TrinoTestServer } from '../../support/trino-server';

/**
 * Write-audit-publish on the engine Athena runs: the generated data tests (count(*), GROUP BY …
 * HAVING, LEFT JOIN … IS NULL, NOT IN) and the input checks (try_cast) run on a real Trino, with
 * the meaning they have on DuckDB: every test passes on a good batch, and a batch with an
 * unparseable agreed date is quarantined naming the same rejected values DuckDB finds.
 */
const skipReason = trinoSkipReason();
const describeTrino = (name: string, fn: jest.EmptyFunction) => describeRequiring(name, skipReason, fn);

describeTrino('data tests and input checks on Trino', () => {
  let trino: TrinoTestServer;
  let db: TestDatabase;
  let pipeline: FolderPipeline;
  let ctx: PipelineContext;
  let duck: DuckDbEngine;
  let dir: string;

  beforeAll(async () => {
    [trino, db] = await Promise.all([startTrino({ schema: 'datatests' }), testDatabase('trino_datatests')]);
    await seedTotesys(db.url, { scale: 0.005, seed: 7, asOf: new Date('2025-01-15T12:00:00.000Z') });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-trino-datatests-'));
    pipeline = await openFolderPipeline({ lake: dir, engine: (stores) => createTrinoEngine({ url: trino.url, ...stores, localRoot: trino.localRoot }), source: db.url });
    ctx = pipeline.ctx;
    duck = new DuckDbEngine(pipeline.stores.ingestion, pipeline.stores.processed);
  }, 900_000);

  afterAll(async () => {
    await duck?.close();
    await pipeline?.close();
    await Promise.all([trino?.stop(), db?.close()]);
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs every data test on a good batch, and all pass', async () => {
    await extract(ctx);
    const [result] = await transformPending(ctx);
    const manifest = await readTransformManifest(ctx.processed, result.seq);
    expect(manifest.dataTests).toHaveLength(dataTests().length + Object.keys(FACT_SOURCES).length);
    expect(manifest.dataTests!.filter((t) => !t.passed)).toEqual([]);
  }, 600_000);

  it('finds the same unparseable dates as DuckDB and quarantines the batch', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(
        `UPDATE sales_order SET agreed_payment_date = 'soon', agreed_delivery_date = '2026-13-45', last_updated = (now() AT TIME ZONE 'UTC')::timestamp(3) WHERE sales_order_id = 1`,
      );
    } finally {
      await client.end();
    }
    const { seq } = await extract(ctx);
    const manifest = await readExtractManifest(ctx.ingestion, seq);
    const onTrino = await findRejectedVersions(ctx, manifest);
    expect(onTrino.map((r) => [r.table, r.id, r.column, r.value])).toEqual([
      ['sales_order', 1, 'agreed_delivery_date', '2026-13-45'],
      ['sales_order', 1, 'agreed_payment_date', 'soon'],
    ]);
    expect(await findRejectedVersions({ engine: duck }, manifest)).toEqual(onTrino);
    await expect(transformPending(ctx)).rejects.toThrow(/quarantined/);
    const report = JSON.parse(await getText(ctx.processed, quarantineKey(manifest.batchId))) as { rejectedVersions: unknown[] };
    expect(report.rejectedVersions).toEqual(onTrino);
  }, 600_000);
});
