import { readTransformManifest } from '../../../functions/core/lake/manifest-log';
import { compileNextBatch } from '../../../functions/core/transform/compile';
import { transformPending } from '../../../functions/core/transform/transform';
import { createTrinoEngine, TrinoRenderer, type TrinoEngine } from '../../../functions/engines/trino/engine';
import { openFolderPipeline, type FolderPipeline } from '../../../functions/local/folder-pipeline';
import { describeRequiring } from '../../support/requires';
import { startTrino, trinoSkipReason, type TrinoTestServer } from '../../support/trino-server';
import { RawLake, REPO_ROOT } from '../transform/raw-lake';
import { batchOne, batchTwo } from '../transform/totesys-rows';

/**
 * `totes compile --engine trino` renders, with no server, what the Trino engine sends: here a real
 * Trino runs the transform with every statement it sends captured, and the lists are compared. The
 * one statement the engine sends that compile does not render is its `SHOW CREATE TABLE` of a raw
 * table (a read deciding whether the raw table's DDL, which compile renders, is needed).
 */
const describeTrino = (name: string, fn: jest.EmptyFunction) => describeRequiring(name, trinoSkipReason(), fn);

describeTrino('compile --engine trino = what the Trino engine sends', () => {
  let trino: TrinoTestServer;
  let lake: RawLake;
  let pipeline: FolderPipeline;
  const sent: string[] = [];

  beforeAll(async () => {
    [trino, lake] = await Promise.all([startTrino({ schema: 'compile' }), RawLake.create()]);
    pipeline = await openFolderPipeline({
      lake: lake.dir,
      engine: (stores) => {
        const engine: TrinoEngine = createTrinoEngine({ url: trino.url, ...stores, localRoot: trino.localRoot });
        const execute = engine.client.execute.bind(engine.client);
        engine.client.execute = (sql, context) => {
          sent.push(sql);
          return execute(sql, context);
        };
        return engine;
      },
    });
  }, 300_000);

  afterAll(async () => {
    await pipeline?.close();
    await lake?.close();
    await trino?.stop();
  });

  const compileAndRun = async () => {
    const compiled = await compileNextBatch(
      { ingestion: lake.ingestion, processed: lake.processed, sqlRoot: REPO_ROOT },
      new TrinoRenderer({ ingestion: lake.ingestion, processed: lake.processed, localRoot: trino.localRoot }),
    );
    sent.length = 0;
    await transformPending(pipeline.ctx);
    return { compiled, executed: sent.filter((sql) => !sql.startsWith('SHOW CREATE TABLE ')) };
  };

  /** Independent statements go out together (functions/core/transform/concurrently.ts): their order within a wave is not fixed, so lists compare sorted. */
  const sorted = (list: readonly string[]) => [...list].sort();

  it('first batch: the same statements', async () => {
    await lake.writeBatch(1, batchOne);
    const { compiled, executed } = await compileAndRun();
    expect(executed.length).toBeGreaterThan(40);
    expect(sorted(compiled.statements.map((s) => s.sql))).toEqual(sorted(executed));
  }, 600_000);

  it('second batch: the same statements, but for a dim_date carried forward and the setup the run\'s engine did in batch 1', async () => {
    await lake.writeBatch(2, batchTwo);
    const { compiled, executed } = await compileAndRun();
    const carriedDate = (await readTransformManifest(lake.processed, 2)).star.dim_date.builtBy !== undefined;
    // The run's engine made the schemas, raw tables and prefix tables of batch 1 already (once per
    // engine); compile renders them for a new engine, as a new process (a Lambda) sends them.
    const setup = (sql: string) => /^(CREATE SCHEMA IF NOT EXISTS|CREATE TABLE IF NOT EXISTS|CALL )/.test(sql);
    const expected = compiled.statements.filter((s) => !(carriedDate && s.tables.includes('dim_date') && !s.step.startsWith('row count'))).map((s) => s.sql);
    expect(sorted(expected.filter((sql) => !setup(sql)))).toEqual(sorted(executed.filter((sql) => !setup(sql))));
    expect(executed.filter(setup).every((sql) => expected.includes(sql))).toBe(true);
  }, 600_000);
});
