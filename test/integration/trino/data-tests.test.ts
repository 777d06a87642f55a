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
import type { TestDatabase } from '../../support/test-postgres';
import { describeRequiring } from '../../support/requires';
import { trinoSkipReason } from '../../support/trino-server';
import { openTrinoLake, type TrinoLake } from './trino-lake';

/**
 * Write-audit-publish on the engine Athena runs: the generated data tests (count(*), GROUP BY …
 * HAVING, LEFT JOIN … IS NULL, NOT IN) and the input checks (try_cast) run on a real Trino, with
 * the meaning they have on DuckDB: every test passes on a good batch, and a batch with an
 * unparseable agreed date is quarantined naming the same rejected values DuckDB finds.
 */
const skipReason = trinoSkipReason();
const describeTrino = (name: string, fn: jest.EmptyFunction) => describeRequiring(name, skipReason, fn);

describeTrino('data tests and input checks on Trino', () => {
  let lake: TrinoLake;
  let db: TestDatabase;
  let ctx: PipelineContext;
  let duck: DuckDbEngine;

  beforeAll(async () => {
    lake = await openTrinoLake('datatests');
    ({ db, ctx, duck } = lake);
  }, 900_000);

  afterAll(async () => {
    await lake?.close();
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
