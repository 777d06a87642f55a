import { z } from 'zod';
import type { SourceTableName } from '../contract/source-tables';
import type { StarTableName } from '../contract/star-tables';
import { BATCH_ID_PATTERN, modelVersionKey } from '../lake/lake-layout';
import type { ExtractManifest, ModelChange, TransformManifest } from '../lake/manifests';
import { getText, ObjectNotFoundError, type ObjectStore } from '../ports/object-store';
import type { PipelineContext } from '../pipeline-context';
import type { SqlFile } from './sql-files';

/**
 * Versioned SQL that can change (issue 16, item 1): which SQL version built a published star table,
 * and what a batch does when `sql/transform/<table>.sql` no longer matches it.
 *
 * The published version of a star table after batch N is the `sqlHash` its output carries in
 * transform manifest N — unless a backfill (backfill.ts) rebuilt the table's history through batch
 * N or later: then it is the version the backfill published, recorded at `models/<table>.json`
 * (the transform's own store; manifests are immutable, so this record is how a backfill tells
 * the next batch). A fact a batch did not write carries the published version forward.
 *
 * A changed file:
 *  - a dimension is rebuilt whole by the next batch (as before), and the change is logged and
 *    recorded in the batch's manifest (`modelChanges`), so the run history shows it;
 *  - a fact is NOT extended with rows of the new version while its published rows are of another:
 *    a batch with versions of that fact waits like a quarantined one (the report names the file and
 *    `totes backfill <fact>`), and so do the batches after it; a batch without versions of it goes
 *    on (it adds no row to the fact). Once the backfill publishes the fact rebuilt with the new
 *    version, the waiting batch is built with it.
 */

export const ModelVersion = z.object({
  kind: z.literal('model-version'),
  table: z.string(),
  origin: z.string(),
  sqlHash: z.string(),
  /** The backfill rebuilt every published batch up to this one (the newest transformed when it published). */
  throughSeq: z.number().int().positive(),
  throughBatchId: z.string().regex(BATCH_ID_PATTERN),
  publishedAt: z.string(),
  /** The backfill's progress record (backfills/<fact>/<hash>.json). */
  backfill: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersion>;

export async function readModelVersion(store: ObjectStore, table: string): Promise<ModelVersion | undefined> {
  try {
    return ModelVersion.parse(JSON.parse(await getText(store, modelVersionKey(table))));
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw new Error(`The model version record ${modelVersionKey(table)} in ${store.name} is unreadable: ${(err as Error).message}; re-run \`totes backfill ${table}\` to rewrite it`, { cause: err });
  }
}

/** The SQL version of `table`'s published rows after batch `previous` (undefined before the first batch). */
export function publishedVersion(table: StarTableName, previous: TransformManifest | undefined, record: ModelVersion | undefined): string | undefined {
  if (!previous) return undefined;
  if (record && previous.seq <= record.throughSeq) return record.sqlHash;
  return previous.star[table]?.sqlHash;
}


export interface ModelCheck {
  /** Published version per star table after the previous batch (what an unwritten fact carries forward). */
  published: Partial<Record<StarTableName, string>>;
  changes: ModelChange[];
  /** Set when the batch must wait: the reason, naming the file(s) and the command. */
  waiting?: string;
}

/** The command that rebuilds the given tables with their current SQL. */
export const backfillCommand = (tables: readonly string[]): string => `totes backfill ${tables.join(' ')}`;

/**
 * Compares every SQL file with the version that built its published table (reads `models/<table>.json`
 * from the processed store); logs each change. A fact with versions in this batch whose file changed
 * makes the batch wait ({@link ModelCheck.waiting}).
 */
export async function checkModelVersions(
  ctx: Pick<PipelineContext, 'processed' | 'log'>,
  extract: ExtractManifest,
  previous: TransformManifest | undefined,
  sqlFiles: readonly SqlFile[],
): Promise<ModelCheck> {
  const check: ModelCheck = { published: {}, changes: [] };
  if (!previous) return check;
  // The facts' records are read at once: one round trip of latency on every batch, not one per fact.
  const records = await Promise.all(sqlFiles.map((f) => (f.table.kind === 'fact' ? readModelVersion(ctx.processed, f.table.name) : undefined)));
  for (const [i, file] of sqlFiles.entries()) {
    const { table } = file;
    const published = publishedVersion(table.name, previous, records[i]);
    if (published === undefined) continue;
    check.published[table.name] = published;
    if (published === file.sqlHash) continue;
    const hasVersions = table.sources.some((s) => (extract.tables[s as SourceTableName]?.rows ?? 0) > 0);
    const action = table.kind === 'dimension' ? 'rebuilt' : hasVersions ? 'waits' : undefined;
    const what = `${file.origin} changed: the published ${table.name} was built by version ${published.slice(0, 12)}, the file is now ${file.sqlHash.slice(0, 12)}`;
    if (action === 'rebuilt') ctx.log.warn(`Transform: ${what}; batch ${extract.batchId} rebuilds the dimension whole with the new version`, { table: table.name, published, file: file.sqlHash });
    else if (action === undefined) {
      ctx.log.warn(`Transform: ${what}; batch ${extract.batchId} has no versions of it and goes on, the next one that has waits for \`${backfillCommand([table.name])}\``, {
        table: table.name,
        published,
        file: file.sqlHash,
      });
      continue;
    }
    check.changes.push({ table: table.name, origin: file.origin, published, file: file.sqlHash, action });
  }
  const waits = check.changes.filter((c) => c.action === 'waits');
  if (waits.length) {
    check.waiting =
      `${waits.map((c) => `${c.origin} changed since it built the published ${c.table} (version ${c.published.slice(0, 12)}, the file is now ${c.file.slice(0, 12)})`).join('; ')}. ` +
      `A fact is not extended with rows of a new version while its published rows are of another: rebuild its history with the new version first, run \`${backfillCommand(waits.map((c) => c.table))}\`` +
      ' (then this batch and the later ones are built with it), or restore the file';
  }
  return check;
}
