import { z } from 'zod';
import { EngineQueries, ModelChange } from '../lake/manifests';

/**
 * One run of the pipeline, as the run history keeps it (`runs/…json` in the processed store).
 *
 * A local cycle (`runCycle`) writes one record with all three stages; in the cloud each Lambda may
 * write one record for its own stage (the other stages absent). Readers (`totes status`, the data
 * docs) therefore treat every stage as optional. Parsed with zod whenever read, so a damaged record
 * is reported by key instead of breaking a chart.
 */

export const StageName = z.enum(['extract', 'transform', 'load']);
export type StageName = z.infer<typeof StageName>;

export const RunOutcome = z.enum(['success', 'failed', 'nothing-new']);
export type RunOutcome = z.infer<typeof RunOutcome>;

const count = z.number().int().nonnegative();
const ms = z.number().nonnegative();

export const ExtractStageRecord = z.object({
  elapsedMs: ms,
  published: z.boolean(),
  reason: z.string().optional(),
  batchId: z.string(),
  seq: z.number().int(),
  /** Row versions extracted per source table. */
  rows: z.record(z.string(), count),
  bytes: count,
  warnings: z.array(z.string()).default([]),
});
export type ExtractStageRecord = z.infer<typeof ExtractStageRecord>;

export const TransformedTable = z.object({ rows: count, elapsedMs: ms, origin: z.string() });
export const TransformStageRecord = z.object({
  elapsedMs: ms,
  batches: z.array(
    z.object({
      batchId: z.string(),
      seq: z.number().int(),
      tables: z.record(z.string(), TransformedTable),
      /** Star tables whose SQL file changed since it built the published table, rebuilt by this batch (transform/model-versions.ts). */
      modelChanges: z.array(ModelChange).optional(),
      /** The engine round trips of the batch's transform, from its manifest (additive; transform/query-tally.ts). */
      engineQueries: EngineQueries.optional(),
    }),
  ),
});
export type TransformStageRecord = z.infer<typeof TransformStageRecord>;

export const LoadedTable = z.object({ read: count, written: count });
export const LoadStageRecord = z.object({
  elapsedMs: ms,
  batches: z.array(z.object({ batchId: z.string(), seq: z.number().int(), skipped: z.boolean(), tables: z.record(z.string(), LoadedTable) })),
});
export type LoadStageRecord = z.infer<typeof LoadStageRecord>;

/** Result of one data test (not null, unique, relationships, accepted values …), when a stage ran them. */
export const DataTestResult = z.object({
  name: z.string(),
  table: z.string().optional(),
  passed: z.boolean(),
  failures: count.default(0),
  detail: z.string().optional(),
});
export type DataTestResult = z.infer<typeof DataTestResult>;

export const RunRecord = z.object({
  kind: z.literal('run'),
  version: z.literal(1),
  /** The record's key, for messages and links. */
  key: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  outcome: RunOutcome,
  /** Batch this run extracted (or, for a stage record, worked on); null when none. */
  batchId: z.string().nullable(),
  engine: z.string().optional(),
  failure: z.object({ stage: z.string(), error: z.string() }).optional(),
  stages: z.object({
    extract: ExtractStageRecord.optional(),
    transform: TransformStageRecord.optional(),
    load: LoadStageRecord.optional(),
  }),
  /**
   * The warehouse's freshness when the run ended (operate/freshness.ts): now − the source instant
   * it reflects. Absent when unknown (nothing loaded yet, or the warehouse could not be read).
   * Records written before that definition measured now − the newest change loaded, which a quiet
   * source ages; their value is dropped on reading rather than charted beside the new one.
   */
  freshness: z.preprocess(
    (value) => (value && typeof value === 'object' && !('sourceAt' in value) ? undefined : value),
    z
      .object({
        sourceAt: z.string(),
        seconds: z.number().nonnegative(),
        batchId: z.string(),
        seq: z.number().int(),
        via: z.enum(['batch', 'heartbeat']),
      })
      .optional(),
  ),
  dataTests: z.array(DataTestResult).optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;
