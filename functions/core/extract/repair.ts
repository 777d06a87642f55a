import type pg from 'pg';
import type { SourceTable } from '../contract/source-tables';
import type { Cursor } from '../lake/manifests';
import { lakeRows } from './lake-versions';
import { rowVisibleInSql } from './late-commits';

/**
 * The repair: a current source version that the lake lacks at or below the cursor is read by a
 * later batch, once — whatever the reason it was missed (a stamp more than the rescue's lookback
 * older than its own transaction, a table rewritten in the same interval as a late commit, a lake
 * object lost). It runs when asked (`totes run --repair`, or `{"repair": true}` in the extract
 * Lambda's event); `totes verify` names it for the versions the next run's rescue does not cover.
 *
 * **What is missing.** For each table, in the batch's snapshot: the current versions `(pk,
 * last_updated)` at or below the previous cursor, minus every version the lake holds as the
 * previous batch left it (lake-versions.ts: the current state after the newest transformed batch,
 * base and deltas, and the raw files of the batches extracted since). That is exact: the source's
 * current version of a row is its newest, so if any batch up to the newest transformed one had read
 * it, it would be that row's version in the current state (batch order is commit order for one
 * row: functions/core/transform/current-state.ts); a later batch's read is in its raw files.
 * Versions an input check rejected are always superseded before their batch is built (the batch
 * waits), so the source's current version is never one of them.
 *
 * **Exactly once.** The batch publishes as the previous batch's successor or not at all (the
 * manifest's conditional put), so the lake compared with is the lake it extends. Its window reads
 * above the cursor and the repair at or below it; the repair leaves out the versions its own rescue
 * reads (late-commits.ts `rescueSelect` 'repair'). A resumed batch reads only what its first
 * snapshot saw, as its windows do.
 *
 * **Cost.** A read of every key and `last_updated` at or below the cursor in the source (an
 * index-only scan with the recommended indexes) and of the lake's current state and recent raw
 * files, held as one number per key in memory: about 80 bytes a row, 80 MB at a million orders.
 * That is why it is an operator's request and not part of every batch.
 */

/** ms since 1970 of 'YYYY-MM-DD HH:MM:SS.mmm' (UTC). */
const millis = (text: string): number => Date.parse(`${text.replace(' ', 'T')}Z`);

/**
 * Keys of `table` whose current source version (at or below `cursor`, in the transaction's
 * snapshot, and in `batchSnapshot` when given) the lake lacks as batch `uptoSeq` left it.
 */
export async function missingFromLake(
  ctx: Parameters<typeof lakeRows>[0],
  client: pg.Client,
  table: SourceTable,
  options: { cursor: Cursor; uptoSeq: number; batchSnapshot?: string },
): Promise<number[]> {
  const pk = `"${table.primaryKey}"`;
  const res = await client.query<[number, string]>({
    text:
      `SELECT ${pk}, to_char("last_updated", 'YYYY-MM-DD HH24:MI:SS.MS') FROM "${table.name}" ` +
      `WHERE ("last_updated", ${pk}) <= ($1::timestamp(3), $2::integer)` +
      (options.batchSnapshot ? ` AND ${rowVisibleInSql('$3::pg_snapshot')}` : ''),
    values: [options.cursor.lastUpdated, options.cursor.id, ...(options.batchSnapshot ? [options.batchSnapshot] : [])],
    rowMode: 'array',
  });
  const source = new Map<number, number>();
  for (const [id, lu] of res.rows) source.set(id, millis(lu));
  res.rows.length = 0;
  for await (const row of lakeRows(ctx, table, { withLastUpdated: true, uptoSeq: options.uptoSeq })) {
    if (source.get(row.id) === millis(row.lastUpdated!)) source.delete(row.id);
  }
  return [...source.keys()].sort((a, b) => a - b);
}
