import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { createTrinoEngine } from '../../../functions/engines/trino/engine';
import { openFolderPipeline, type FolderPipeline } from '../../../functions/local/folder-pipeline';
import { seedTotesys } from '../../../functions/totesys/seed';
import { startTrino, type TrinoTestServer } from '../../support/trino-server';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

/**
 * A seeded totesys, a lake folder whose pipeline runs on a Trino server of its own schema, and a
 * DuckDB engine over the same two stores (to read what Trino wrote, or compare with it): the
 * fixture of the Trino suites that run the pipeline (data-tests.test.ts, fact-compaction.test.ts).
 */
export interface TrinoLake {
  trino: TrinoTestServer;
  db: TestDatabase;
  pipeline: FolderPipeline;
  ctx: PipelineContext;
  duck: DuckDbEngine;
  close(): Promise<void>;
}

export async function openTrinoLake(name: string): Promise<TrinoLake> {
  const [trino, db] = await Promise.all([startTrino({ schema: name }), testDatabase(`trino_${name}`)]);
  await seedTotesys(db.url, { scale: 0.005, seed: 7, asOf: new Date('2025-01-15T12:00:00.000Z') });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `totes-trino-${name}-`));
  const pipeline = await openFolderPipeline({ lake: dir, engine: (stores) => createTrinoEngine({ url: trino.url, ...stores, localRoot: trino.localRoot }), source: db.url });
  const duck = new DuckDbEngine(pipeline.stores.ingestion, pipeline.stores.processed);
  return {
    trino, db, pipeline, ctx: pipeline.ctx, duck,
    async close() {
      await duck.close();
      await pipeline.close();
      await Promise.all([trino.stop(), db.close()]);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
