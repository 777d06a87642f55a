import type pg from 'pg';
import { acquireConnection, releaseConnection } from '../connection-pool';
import type { PipelineContext } from '../pipeline-context';
import { qualifiedTable } from './load-statements';

/**
 * The warehouse's load ledger, read: which batch it holds last. Batches load in order, each in
 * the transaction that writes its ledger row (load.ts), so the newest row names a batch that is
 * wholly in the warehouse together with every batch before it.
 */

export interface LoadedBatch {
  seq: number;
  batchId: string;
  /** When its load committed (ISO 8601), when the ledger says. */
  loadedAt: string | null;
}

/** The newest batch in the ledger of `schema`; null when nothing is loaded (or the warehouse was never migrated). */
export async function newestLoadedBatch(client: pg.Client, schema: string): Promise<LoadedBatch | null> {
  const exists = await client.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [schema, 'load_ledger']);
  if (Number(exists.rows[0].n) === 0) return null;
  const last = await client.query<{ batch_id: string; seq: number; loaded_at: Date | null }>(
    `SELECT batch_id, seq, loaded_at FROM ${qualifiedTable(schema, 'load_ledger')} ORDER BY seq DESC LIMIT 1`,
  );
  const row = last.rows[0];
  return row ? { seq: Number(row.seq), batchId: row.batch_id, loadedAt: row.loaded_at ? new Date(row.loaded_at).toISOString() : null } : null;
}

/** {@link newestLoadedBatch} of the context's warehouse, on a connection of its own. */
export async function readNewestLoaded(ctx: PipelineContext): Promise<LoadedBatch | null> {
  const client = await acquireConnection(ctx, ctx.warehouse, {
    what: 'the warehouse',
    applicationName: 'totes-lake-freshness',
    hint: 'Check the URL (--warehouse-url / TOTES_WAREHOUSE_URL), the credentials and that the server is reachable.',
  });
  try {
    return await newestLoadedBatch(client, ctx.warehouseSchema);
  } finally {
    await releaseConnection(ctx, client);
  }
}
