import { promises as fs } from 'node:fs';
import { rawKey } from '../../../functions/core/lake/lake-layout';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { createTrinoEngine } from '../../../functions/engines/trino/engine';
import { describeRequiring } from '../../support/requires';
import { startTrino, trinoSkipReason } from '../../support/trino-server';
import { RawLake } from '../transform/raw-lake';
import { queryEngineContract } from './query-engine.contract';

describe('QueryEngine contract: DuckDbEngine', () => {
  queryEngineContract(async ({ ingestion, processed }) => ({ engine: new DuckDbEngine(ingestion, processed) }));

  it("keeps a table's batch parsed last in its scratch folder, and earlier ones only while a statement reads them", async () => {
    const lake = await RawLake.create();
    const engine = new DuckDbEngine(lake.ingestion, lake.processed);
    try {
      const currency = (id: number) => ({ currency_id: id, currency_code: 'GBP', created_at: '2022-11-03 14:20:49.962', last_updated: '2022-11-03 14:20:49.962' });
      for (const seq of [1, 2, 3]) await lake.writeBatch(seq, { currency: [currency(seq)] });
      const read = (seq: number) => engine.query('SELECT currency_id FROM batch_currency', { batch: { currency: [rawKey('currency', lake.batchId(seq))] }, current: {}, star: {} });
      const scratch = (engine as unknown as { relations: { scratch?: Promise<string> } }).relations;
      const files = async () => (await fs.readdir(await scratch.scratch!)).filter((f) => f.startsWith('batch_currency'));
      await Promise.all([read(1), read(2), read(3), read(1)]);
      expect(await read(2)).toEqual([{ currency_id: 2 }]);
      await new Promise((resolve) => setTimeout(resolve, 50)); // removals run after the statement returns
      expect(await files()).toHaveLength(1);
    } finally {
      await engine.close();
      await lake.close();
    }
  });
});

describeRequiring('QueryEngine contract: TrinoEngine', trinoSkipReason(), () => {
  queryEngineContract(async ({ ingestion, processed }) => {
    const trino = await startTrino({ schema: 'contract' });
    return { engine: createTrinoEngine({ url: trino.url, ingestion, processed, localRoot: trino.localRoot }), close: () => trino.stop() };
  });
});
