import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { SourceTable } from '../contract/source-tables';
import { batchDate, parseBatchId } from '../lake/lake-layout';
import { listExtractSeqs, listTransformSeqs, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import type { ExtractManifest, ExtractTable } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import { readParquetColumns } from '../load/parquet-rows';

/**
 * Deletion detection: totesys rows are rarely deleted (foreign keys RESTRICT), but a deleted row
 * leaves no version behind for a `last_updated` cursor to see. So every extract also takes, in the
 * same snapshot, a tally of the table's keys — `count(*)`, `sum(pk)`, `max(pk)`: one index-only
 * scan, a few milliseconds at 1M rows — and compares it with the previous batch's tally:
 *
 *   every key the previous snapshot held and that is still there has pk <= previous max, so
 *   (count, sum) over `pk <= previous max` equals the previous tally unless a row was deleted
 *   (or a key at or below the previous max committed late, which is harmless).
 *
 * Only when the tallies disagree (or the previous manifest predates tallies) does the extract pay
 * for a full comparison: the source's key list (same snapshot) against the lake's key list
 * (current state of the newest transformed batch ∪ raw files of later batches ∪ this batch, read
 * from the files themselves: the extract needs no query engine),
 * minus rows already marked deleted. Keys in the lake but not in the source were deleted: they get
 * a deletion marker row version `{<pk>, _deleted: true, deleted_detected_at, _batch_id}` in
 * `deletions/<table>/dt=…/<batch_id>.ndjson.gz` (a prefix of its own, so the raw tables' format and
 * Glue locations are untouched), listed in the manifest under `tables.<t>.deletions`.
 * Serial keys are never reused, so a deleted key stays deleted.
 */

export type KeyTally = NonNullable<ExtractTable['keys']>;

export interface DeletionCheck {
  keys: KeyTally;
  /** Keys found deleted by this batch (empty when none). */
  deleted: number[];
  /** True when the full key comparison ran. */
  compared: boolean;
}

const quote = (identifier: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(identifier)) throw new Error(`Identifier "${identifier}" is not a plain lower-case name`);
  return `"${identifier}"`;
};

/** Runs inside the extract's snapshot transaction, after the table's window was read. */
export async function checkDeletions(
  ctx: PipelineContext,
  client: pg.Client,
  table: SourceTable,
  previous: ExtractTable | undefined,
  thisBatchFiles: string[],
): Promise<DeletionCheck> {
  const pk = quote(table.primaryKey);
  const prevMax = previous?.keys?.max ?? null;
  const res = await client.query<{ n: string; s: string | null; m: number | null; pn: string; ps: string | null }>(
    `SELECT count(*) AS n, sum(${pk}) AS s, max(${pk}) AS m,
            count(*) FILTER (WHERE ${pk} <= $1::integer) AS pn, sum(${pk}) FILTER (WHERE ${pk} <= $1::integer) AS ps
       FROM ${quote(table.name)}`,
    [prevMax],
  );
  const row = res.rows[0];
  const keys: KeyTally = { count: Number(row.n), sum: Number(row.s ?? 0), max: row.m };
  if (!previous) return { keys, deleted: [], compared: false };
  const before = previous.keys;
  if (before && Number(row.pn) === before.count && Number(row.ps ?? 0) === before.sum) return { keys, deleted: [], compared: false };
  if (before && before.count === 0) return { keys, deleted: [], compared: false };

  // Suspect (or no earlier tally): compare the key lists.
  const source = new Set<number>();
  const listed = await client.query<{ id: number }>(`SELECT ${pk} AS id FROM ${quote(table.name)}`);
  for (const r of listed.rows) source.add(r.id);
  const lake = await lakeKeys(ctx, table, thisBatchFiles);
  const already = await deletedKeys(ctx, table.name);
  const deleted = lake.filter((id) => !source.has(id) && !already.has(id)).sort((a, b) => a - b);
  return { keys, deleted, compared: true };
}

/**
 * Every key the published lake knows for `table`, plus the keys of this (unpublished) batch: the
 * current state after the newest transformed batch (its Parquet files, read in pure JavaScript)
 * and the raw files of the batches extracted since. Read without a query engine, because the
 * extract Lambda has none; it runs only when the key tallies disagree.
 */
async function lakeKeys(ctx: PipelineContext, table: SourceTable, thisBatchFiles: string[]): Promise<number[]> {
  const ids = new Set<number>();
  const transformed = (await listTransformSeqs(ctx.processed)).at(-1);
  if (transformed !== undefined) {
    const current = (await readTransformManifest(ctx.processed, transformed)).currentOutputs[table.name];
    const pk = { name: table.primaryKey, type: 'integer' as const, nullable: false, description: table.primaryKey };
    for (const file of current?.files ?? []) {
      for await (const chunk of readParquetColumns(await ctx.processed.get(file), [pk], { file })) {
        for (const id of chunk.columns[0]) ids.add(Number(id));
      }
    }
  }
  const files = [...thisBatchFiles];
  for (const seq of await listExtractSeqs(ctx.ingestion, transformed ?? 0)) {
    files.push(...((await readExtractManifest(ctx.ingestion, seq)).tables[table.name]?.files ?? []).map((f) => f.key));
  }
  for (const file of files) {
    const lines = createInterface({ input: (await ctx.ingestion.getStream(file)).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line) ids.add(Number((JSON.parse(line) as Record<string, unknown>)[table.primaryKey]));
    }
  }
  return [...ids];
}

/**
 * Keys already marked deleted by published batches: the marker files under `deletions/<table>/`
 * whose batch's manifest lists them (a run that lost the publishing race leaves files no manifest lists).
 */
export async function deletedKeys(ctx: Pick<PipelineContext, 'ingestion'>, tableName: string, uptoSeq?: number): Promise<Set<number>> {
  const ids = new Set<number>();
  for await (const info of ctx.ingestion.list(`${DELETIONS_PREFIX}${tableName}/`)) {
    const batchId = /([^/]+)\.ndjson\.gz$/.exec(info.key)?.[1];
    if (!batchId) continue;
    const { seq } = parseBatchId(batchId);
    if (uptoSeq !== undefined && seq > uptoSeq) continue;
    let manifest: ExtractManifest;
    try {
      manifest = await readExtractManifest(ctx.ingestion, seq);
    } catch {
      continue; // not published (yet)
    }
    const entry = manifest.tables[tableName as SourceTable['name']]?.deletions;
    if (manifest.batchId === batchId && entry?.key === info.key) entry.ids.forEach((id) => ids.add(id));
  }
  return ids;
}

export const DELETIONS_PREFIX = 'deletions/';
export const deletionKey = (table: string, batchId: string): string => `${DELETIONS_PREFIX}${table}/dt=${batchDate(batchId)}/${batchId}.ndjson.gz`;

/** Writes the deletion markers of one table for this batch; returns the manifest entry. */
export async function writeDeletionMarkers(
  ctx: PipelineContext,
  table: SourceTable,
  ids: number[],
  batchId: string,
  detectedAt: string,
): Promise<NonNullable<ExtractTable['deletions']>> {
  const key = deletionKey(table.name, batchId);
  const lines = ids.map((id) => `${JSON.stringify({ [table.primaryKey]: id, _deleted: true, deleted_detected_at: detectedAt, _batch_id: batchId })}\n`);
  const gzip = createGzip();
  Readable.from(lines).pipe(gzip);
  await ctx.ingestion.putStream(key, gzip, { contentType: 'application/x-ndjson' });
  return { key, rows: ids.length, ids };
}
