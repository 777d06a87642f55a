import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';
import { createTrinoEngine } from '../../../functions/engines/trino/engine';
import { describeRequiring } from '../../support/requires';
import { startTrino, trinoSkipReason } from '../../support/trino-server';
import { queryEngineContract } from './query-engine.contract';

describe('QueryEngine contract: DuckDbEngine', () => {
  queryEngineContract(async ({ ingestion, processed }) => ({ engine: new DuckDbEngine(ingestion, processed) }));
});

describeRequiring('QueryEngine contract: TrinoEngine', trinoSkipReason(), () => {
  queryEngineContract(async ({ ingestion, processed }) => {
    const trino = await startTrino({ schema: 'contract' });
    return { engine: createTrinoEngine({ url: trino.url, ingestion, processed, localRoot: trino.localRoot }), close: () => trino.stop() };
  });
});
