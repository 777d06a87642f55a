import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { SourceTable } from '../contract/source-tables';
import { currentFiles, listExtractSeqs, listTransformSeqs, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import { readParquetColumns } from '../lake/parquet-rows';
import type { PipelineContext } from '../pipeline-context';

/**
 * What the published lake holds of one source table, read by the extract itself — the extract
 * Lambda has no query engine, so the files are read directly: the current state after the newest
 * transformed batch (its Parquet base and deltas, read in pure JavaScript) and the raw NDJSON files
 * of the extract batches published since (the current state does not cover them yet).
 *
 * Used where the extract must compare the source with the lake: deletion detection (keys only,
 * deletions.ts) and the repair (keys with their `last_updated`, repair.ts). A version is given as
 * its key and its `last_updated` text 'YYYY-MM-DD HH:MM:SS.mmm'.
 */

/**
 * A version the lake holds. The current state holds each key's latest version as of each of its
 * segments (base, deltas), so a key can come more than once, as it can from the raw files.
 */
export interface LakeRow {
  id: number;
  /** Present when asked for (`withLastUpdated`). */
  lastUpdated?: string;
}

export interface LakeRowsOptions {
  /** Also read each row's `last_updated`. */
  withLastUpdated: boolean;
  /** Raw files of the batch being extracted (not published yet) to include. */
  extraRawFiles?: readonly string[];
  /** Read the lake as batch `uptoSeq` left it (default: every published batch). */
  uptoSeq?: number;
}

/** Every row the lake knows for `table` (see the module doc), streamed. */
export async function* lakeRows(ctx: Pick<PipelineContext, 'ingestion' | 'processed'>, table: SourceTable, options: LakeRowsOptions): AsyncGenerator<LakeRow> {
  const seqs = (await listTransformSeqs(ctx.processed)).filter((s) => options.uptoSeq === undefined || s <= options.uptoSeq);
  const transformed = seqs.at(-1);
  if (transformed !== undefined) {
    const stateFiles = currentFiles(await readTransformManifest(ctx.processed, transformed), table.name);
    const columns = [{ name: table.primaryKey, type: 'integer' as const }, ...(options.withLastUpdated ? [{ name: 'last_updated', type: 'timestamp' as const }] : [])];
    for (const file of stateFiles) {
      for await (const chunk of readParquetColumns(await ctx.processed.get(file), columns, { file })) {
        const [ids, stamps] = chunk.columns;
        for (let i = 0; i < chunk.rows; i++) yield { id: Number(ids[i]), ...(stamps ? { lastUpdated: stamps[i] as string } : {}) };
      }
    }
  }
  const files = [...(options.extraRawFiles ?? [])];
  for (const seq of await listExtractSeqs(ctx.ingestion, transformed ?? 0)) {
    if (options.uptoSeq !== undefined && seq > options.uptoSeq) break;
    files.push(...((await readExtractManifest(ctx.ingestion, seq)).tables[table.name]?.files ?? []).map((f) => f.key));
  }
  for (const file of files) {
    const lines = createInterface({ input: (await ctx.ingestion.getStream(file)).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const row = JSON.parse(line) as Record<string, unknown>;
      yield { id: Number(row[table.primaryKey]), ...(options.withLastUpdated ? { lastUpdated: String(row.last_updated) } : {}) };
    }
  }
}
