import { parseBatchId, parseCurrentPrefix } from '../lake/lake-layout';
import type { TransformOutput } from '../lake/manifests';

/**
 * When a batch folds a current state's deltas back into a new compacted base, instead of adding a
 * delta (see current-state.ts).
 *
 * A delta costs in proportion to the batch; a compaction rewrites the whole table. Deltas make every
 * reader of the state (a dimension rebuild, the deletion check, `totes query`) merge them on the fly,
 * and the catalog's `current_<table>` is the base alone, so they are kept few, small and young:
 *  - a small table (under 10,000 rows) is always compacted: rewriting it costs little and keeps the
 *    catalog table fresh. The line was 100,000 rows; measured, rewriting an 86,000-row purchase_order
 *    state took 250–750 ms of a five-minute batch of ~60 rows (bench, 200,000 orders), the largest cost
 *    of that batch and one that grows with history (issue 14, item 1), while a table of 10,000 rows
 *    rewrites in a few milliseconds;
 *  - at most `maxDeltas` deltas, holding at most `maxDeltaFraction` of the base's rows;
 *  - the oldest delta's batch started at most `maxDeltaAgeMs` before this batch; this also compacts
 *    a table that this batch did not change, so the catalog's table is never more than about that
 *    much behind the lake.
 * The decision depends only on the manifests and the batch, so a re-run of a batch decides the same.
 */
export interface CompactionPolicy {
  /** A base with fewer rows than this is rewritten every time the table changes. */
  compactBelowRows: number;
  /** Most deltas a current state keeps; the next change compacts. */
  maxDeltas: number;
  /** Compact once the deltas would hold more versions than this fraction of the base's rows. */
  maxDeltaFraction: number;
  /** Compact once the oldest delta's batch started this long before the batch being built. */
  maxDeltaAgeMs: number;
}

export const DEFAULT_COMPACTION: CompactionPolicy = {
  compactBelowRows: 10_000,
  maxDeltas: 11,
  maxDeltaFraction: 0.1,
  maxDeltaAgeMs: 60 * 60_000,
};

export type CompactionStep = 'keep' | 'delta' | 'compact';

/**
 * What this batch does to one table's current state: `keep` it as it is (nothing changed, deltas
 * young enough), add a `delta` with the batch's versions, or `compact` base, deltas and batch.
 */
export function compactionStep(
  policy: CompactionPolicy,
  state: { base: TransformOutput | undefined; deltas: readonly TransformOutput[] },
  batch: { batchId: string; rows: number },
): CompactionStep {
  const { base, deltas } = state;
  if (!base) return 'compact';
  const tooOld = deltas.length > 0 && batchStart(batch.batchId) - batchStart(batchOf(deltas[0])) > policy.maxDeltaAgeMs;
  if (batch.rows === 0) return tooOld ? 'compact' : 'keep';
  if (tooOld || base.rows < policy.compactBelowRows || deltas.length >= policy.maxDeltas) return 'compact';
  const pending = deltas.reduce((sum, d) => sum + d.rows, 0) + batch.rows;
  return pending > base.rows * policy.maxDeltaFraction ? 'compact' : 'delta';
}

/** The batch that wrote a current-state output, from its prefix (`current/<table>/<batch>/`). */
function batchOf(output: TransformOutput): string {
  return parseCurrentPrefix(output.prefix).batchId;
}

/** Start of a batch's extract, from its id (`<seq>-<YYYYMMDDTHHMMSSZ>-<nonce>`), in epoch ms. */
export function batchStart(batchId: string): number {
  const { stamp } = parseBatchId(batchId);
  return Date.parse(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`);
}
