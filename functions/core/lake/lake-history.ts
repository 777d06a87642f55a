import { starTable } from '../contract/star-tables';
import type { ExtractHistory, ExtractManifest, ExtractTable, TransformHistory, TransformManifest, TransformOutput } from './manifests';

/**
 * What the lake holds through a batch, carried from manifest to manifest: each new manifest records
 * its predecessor's history extended by its own batch. `totes status` shows per table the row
 * versions in the lake and the newest batch with any, which otherwise take every manifest of the
 * log: 288 reads a day of five-minute batches, never fewer, so a status over S3 took minutes after
 * a month. With the history, it reads the newest manifest of each log.
 *
 * A log begun before manifests carried a history has none, and neither do the manifests that
 * follow (each extends its predecessor's; a writer records none after a manifest without one); the
 * status then folds the log itself, with the same functions, to the same numbers.
 */

/** `before` extended by one extract batch: its tables with rows add their versions and become its. */
export function extendExtractHistory(before: ExtractHistory, manifest: Pick<ExtractManifest, 'batchId' | 'tables'>): ExtractHistory {
  const after: ExtractHistory = { ...before };
  for (const [name, table] of Object.entries(manifest.tables) as [keyof ExtractHistory, ExtractTable | undefined][]) {
    if (!table?.rows) continue;
    after[name] = { versions: (before[name]?.versions ?? 0) + table.rows, lastBatch: manifest.batchId };
  }
  return after;
}

/** `before` extended by one transform batch: every star table it wrote becomes its; a fact adds its rows. */
export function extendTransformHistory(before: TransformHistory, manifest: Pick<TransformManifest, 'batchId' | 'star'>): TransformHistory {
  const after: TransformHistory = { ...before };
  for (const [name, output] of Object.entries(manifest.star) as [keyof TransformHistory, TransformOutput][]) {
    after[name] =
      starTable(name).kind === 'fact'
        ? { lastBatch: manifest.batchId, factRows: (before[name]?.factRows ?? 0) + output.rows }
        : { lastBatch: manifest.batchId };
  }
  return after;
}
