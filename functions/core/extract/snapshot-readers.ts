import type pg from 'pg';
import { isPglite, rememberPglite } from '../database-connection';
import type { PipelineContext } from '../pipeline-context';

/**
 * More connections reading in the extract's one snapshot. The extract's transaction exports its
 * snapshot (`pg_export_snapshot()`); each reader opens a REPEATABLE READ transaction and adopts it
 * (`SET TRANSACTION SNAPSHOT`), so every table is still read as of the same instant — the upper
 * bound and the open-transaction guard hold for all of them — while the source renders rows on
 * more than one core. The exporting transaction stays open until the readers are done, as
 * PostgreSQL requires.
 *
 * Readers are an optimisation only: on PGlite (one connection at a time), on a hot standby (which
 * cannot export snapshots), or when a reader cannot connect (the role's connection limit), the
 * extract reads with fewer, down to its own connection alone, and says so in the log.
 */
export async function openSnapshotReaders(
  ctx: Pick<PipelineContext, 'log'>,
  exporter: pg.Client,
  wanted: number,
  connect: () => Promise<pg.Client>,
  release: (reader: pg.Client) => Promise<void> = (reader) => reader.end().catch(() => undefined),
): Promise<pg.Client[]> {
  if (wanted <= 1) return [];
  if (await isPglite(exporter)) return [];
  const recovery = await exporter.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
  if (recovery.rows[0].standby) {
    ctx.log.info('Extract: the source is a hot standby, which cannot share a snapshot; reading the tables on one connection');
    return [];
  }
  const exported = await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  const id = exported.rows[0].id;
  if (!/^[0-9A-F]+-[0-9A-F]+-[0-9]+$/i.test(id)) throw new Error(`PostgreSQL exported a snapshot id of an unexpected form: ${id}`);
  const readers: pg.Client[] = [];
  for (let i = 1; i < wanted; i++) {
    let reader: pg.Client | undefined;
    try {
      reader = await connect();
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // SET TRANSACTION SNAPSHOT takes no parameter; the id was checked above.
      await reader.query(`SET TRANSACTION SNAPSHOT '${id}'`);
      // The server that exported the snapshot: not PGlite (a pool keeping the reader need not ask).
      rememberPglite(reader, false);
      readers.push(reader);
    } catch (err) {
      // A reader that failed inside its transaction is not kept (the pool keeps only idle ones).
      if (reader) await release(reader);
      ctx.log.info(`Extract: could not open reader ${i + 1} of ${wanted} in the shared snapshot (${(err as Error).message}); reading with ${readers.length + 1}`);
      break;
    }
  }
  return readers;
}

/**
 * Ends the readers' read-only transactions and gives them back (`release`: closed, or kept by the
 * pipeline's pool for the next run, connection-pool.ts); a reader whose COMMIT fails is closed.
 */
export async function closeSnapshotReaders(
  readers: readonly pg.Client[],
  release: (reader: pg.Client) => Promise<void> = (reader) => reader.end().catch(() => undefined),
): Promise<void> {
  for (const reader of readers) {
    try {
      await reader.query('COMMIT');
    } catch {
      await reader.end().catch(() => undefined);
      continue;
    }
    await release(reader);
  }
}
