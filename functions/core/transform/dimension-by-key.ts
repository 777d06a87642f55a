import { sourceTable, type SourceTableName } from '../contract/source-tables';
import type { StarTable } from '../contract/star-tables';
import { currentPrefix, dimensionChangesPrefix, parseDimensionChangesPrefix } from '../lake/lake-layout';
import type { TransformOutput } from '../lake/manifests';
import type { RelationBindings, WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { batchStart, type CompactionPolicy, type CompactionStep } from './current-compaction';
import { currentStateSql } from './current-state';
import { prependCtes, quoteIdent, stripOuter } from '../sql/sql-text';
import { readAcceptedOnly } from './input-checks';
import type { SqlFile } from './sql-files';

/**
 * A dimension maintained by key, kept as a base plus per-batch change sets, like the current state.
 *
 * A dimension declared `byKey` in the star contract promises that each of its rows depends only on
 * the latest version of one row of its one source table. A batch that wrote a delta of that table
 * (current-state.ts: exactly the batch's latest version per key) then changes exactly the rows of
 * the delta's keys, and nothing else: the dimension's own SQL file, with `current_<source>` bound to
 * the delta alone, gives those rows — the batch's change set, written at `dimensionChangesPrefix`,
 * beside the delta (the file over the delta's own SELECT on the batch, {@link planByKeyBesideDelta}),
 * where the load reads it. That is all the batch writes: the dimension is its base (the last whole
 * build, `prefix`) plus the change sets of the batches since (`deltas`, oldest first), and every
 * reader merges them with {@link latestStarSql} (current-state.ts): per key, the row of the greatest
 * `_batch_id`. It is the same argument as the current state's: a change set is built from the
 * batch's latest versions, batches are in commit order, and a key appears once per change set (its
 * data tests check that). The merge is one SELECT valid on Trino and DuckDB, so DuckDB, Trino and
 * Athena read alike (core/sql/relations.ts compiles a star table bound with `starDeltas` into it).
 *
 * Why: on dim_transaction (1.4M rows, ~15 new in five minutes of business) rewriting the whole
 * dimension by key every batch, and testing it whole, cost most of an incremental transform; now a
 * batch writes its change set and counts its new keys (`rows` stays the merged row count).
 *
 * Compaction: a batch rebuilds the dimension whole (a new base, `deltas` reset; data tests over the
 * whole table) when the by-key path does not apply — a first build, a changed SQL file, a source that
 * compacted rather than wrote a delta — or when the deltas are due for it by the same policy as the
 * current state's (current-compaction.ts: a small base, `maxDeltas` deltas, `maxDeltaFraction` of the
 * base, the oldest `maxDeltaAgeMs` old). The source's own compaction (hourly at most) so also folds
 * the dimension; nothing else rewrites it.
 *
 * Lineage: a merged row carries the batch that wrote it (its change set's, or the base's), not the
 * current batch — the rows are still each the SQL file's result for their key, and the output records
 * the file's origin and sqlHash, so the next batch's "built by the same SQL" check compares file
 * hashes; a changed file fails that check and the dimension is rebuilt whole. The change set may hold
 * rows whose values did not change (a version that touched only last_updated): the load's upsert
 * skips rows that are not distinct.
 *
 * Publication: the catalog's location of the dimension names the base and its deltas (`deltas` of
 * the catalog's TableLocation), repointed in one step per batch, so a reader sees a whole batch or
 * none of it. In Glue the dimension's data is the table `<dim>_versions` (base and change sets as
 * partitions) and `<dim>` the view that merges them (aws/athena-current-views.ts).
 */

/** A dimension's single source table, when the contract declares it by-key. */
export function byKeySource(table: StarTable): SourceTableName | undefined {
  if (!table.byKey) return undefined;
  if (table.kind !== 'dimension' || table.sources.length !== 1 || table.key.length === 0) {
    throw new Error(
      `Star contract: ${table.name} is declared byKey but is a ${table.kind} with ${table.sources.length} source(s) and key (${table.key.join(', ')}); ` +
        'only a dimension with one source table and a natural key can be maintained by key (functions/core/contract/star-tables.ts)',
    );
  }
  return table.sources[0] as SourceTableName;
}

/** Where a by-key build of a dimension reads from. */
export interface ByKeyPlan {
  source: SourceTableName;
  /** The source's delta this batch wrote: its latest version of every key it changed. */
  deltaPrefix: string;
  /** The dimension as the previous batch left it: its base and deltas. */
  previous: TransformOutput;
  /**
   * The batch's raw files of the source, when the change set is built beside the delta rather than
   * after it ({@link planByKeyBesideDelta}): its SQL file then reads the delta's own SELECT, the
   * latest version of each key among the batch's rows, instead of the delta's files.
   */
  batchFiles?: string[];
}

/**
 * Whether a dimension is built by key in this batch, and from what: only when it is declared so,
 * its previous version was built by the same SQL file, its source wrote a delta in this batch, and
 * its deltas are not due for compaction ({@link dimensionCompactionDue}). A compacted source has no
 * record of just this batch's versions, and a first build or a changed file has nothing trustworthy
 * to start from: those are rebuilt whole (undefined), as is a dimension due for compaction.
 */
export function planByKey(
  file: Pick<SqlFile, 'table' | 'sqlHash'>,
  previous: TransformOutput | undefined,
  currentDeltas: Partial<Record<SourceTableName, readonly TransformOutput[]>>,
  batchId: string,
  policy?: CompactionPolicy,
): ByKeyPlan | undefined {
  const source = byKeySource(file.table);
  return byKeyPlan(file, previous, source !== undefined && currentDeltas[source]?.at(-1)?.prefix === currentPrefix(source, batchId), batchId, policy);
}

/** The by-key plan of {@link planByKey} and {@link planByKeyBesideDelta}, given whether the source writes a delta in this batch. */
function byKeyPlan(
  file: Pick<SqlFile, 'table' | 'sqlHash'>,
  previous: TransformOutput | undefined,
  sourceWritesDelta: boolean,
  batchId: string,
  policy?: CompactionPolicy,
): ByKeyPlan | undefined {
  const source = byKeySource(file.table);
  if (!source || !previous || previous.sqlHash !== file.sqlHash || !sourceWritesDelta) return undefined;
  if (policy && dimensionCompactionDue(policy, previous, batchId)) return undefined;
  return { source, deltaPrefix: currentPrefix(source, batchId), previous };
}

/**
 * {@link planByKey} decided before the current state is written: the source's step in this batch
 * (current-compaction.ts `compactionStep`, which depends only on the previous manifest and the
 * batch) says whether it writes a delta, and what that delta holds is known already — the latest
 * version of each key among the batch's rows (current-state.ts `currentStateSql` without a previous
 * state). So the change set reads that SELECT over the batch, and is sent beside the current-state
 * writes instead of after them (issue 14: a five-minute batch's change set of `dim_transaction` was
 * a level of its own, a second or more on Athena). The same rows as from the written delta: the
 * same SELECT over the same batch files and the same accepted versions.
 */
export function planByKeyBesideDelta(
  file: Pick<SqlFile, 'table' | 'sqlHash'>,
  previous: TransformOutput | undefined,
  sourceStep: CompactionStep,
  batchFiles: readonly string[],
  batchId: string,
  policy: CompactionPolicy,
): ByKeyPlan | undefined {
  const plan = byKeyPlan(file, previous, sourceStep === 'delta', batchId, policy);
  return plan && { ...plan, batchFiles: [...batchFiles] };
}

/**
 * A by-key dimension's SQL file over the batch's latest versions of its source (see
 * {@link planByKeyBesideDelta}): `current_<source>` defined in the statement as the delta's SELECT,
 * which reads `batch_<source>` (bound by the engine as any batch table is).
 */
export function besideDeltaSql(sql: string, source: SourceTableName): string {
  const delta = stripOuter(currentStateSql(sourceTable(source), { hasPrevious: false }));
  return prependCtes(sql, [`${quoteIdent(`current_${source}`)} AS (\n${delta}\n)`]);
}

/**
 * Whether a by-key dimension's deltas are folded into a new base in this batch: by the current
 * state's policy (current-compaction.ts), with the dimension's row count standing for its base's.
 * Depends only on the previous manifest and the batch, so a re-run decides the same.
 */
export function dimensionCompactionDue(policy: CompactionPolicy, previous: TransformOutput, batchId: string): boolean {
  const deltas = previous.deltas ?? [];
  if (previous.rows < policy.compactBelowRows) return true;
  if (!deltas.length) return false;
  if (deltas.length >= policy.maxDeltas) return true;
  if (batchStart(batchId) - batchStart(parseDimensionChangesPrefix(deltas[0].prefix).batchId) > policy.maxDeltaAgeMs) return true;
  return deltas.reduce((sum, d) => sum + d.rows, 0) > previous.rows * policy.maxDeltaFraction;
}

/** The prefixes of a dimension output as readers merge them: its base, then its deltas, oldest first. */
export function dimensionSegments(output: Pick<TransformOutput, 'prefix' | 'deltas'>): { base: string; deltas: string[] } {
  return { base: output.prefix, deltas: (output.deltas ?? []).map((d) => d.prefix) };
}

/**
 * Bindings that read a dimension output as readers see it: `<dim>` is the base with its deltas merged
 * (the latest row per key), and with `previous`, `previous_<dim>` likewise.
 */
export function dimensionBindings(name: string, output: Pick<TransformOutput, 'prefix' | 'deltas'>, previous?: Pick<TransformOutput, 'prefix' | 'deltas'>): RelationBindings {
  const now = dimensionSegments(output);
  const before = previous && dimensionSegments(previous);
  return {
    batch: {},
    current: {},
    star: { [name]: [now.base] },
    ...(now.deltas.length ? { starDeltas: { [name]: now.deltas } } : {}),
    ...(before ? { previousStar: { [name]: before.base } } : {}),
    ...(before?.deltas.length ? { previousStarDeltas: { [name]: before.deltas } } : {}),
  };
}

/**
 * The keys of a change set (bound as `<dim>`) that no segment of the previous version holds (bound
 * as `previous_<dim>`, their union), one row each: rows never leave a dimension, so these are the rows
 * it gains. The batch counts them in its data tests' query (data-tests.ts), which binds the dimension
 * that way, and adds them to `rows` before it publishes (transform.ts).
 */
export function newKeysSql(table: Pick<StarTable, 'name' | 'key'>): string {
  const key = table.key.join(', ');
  const sameKey = table.key.map((k) => `kept.${k} = changed.${k}`).join(' AND ');
  // The previous segments are read only at the change set's keys (a semi-join on the first key
  // column): DuckDB and Trino build it on the change set and push its keys into the segments' scan,
  // where a NOT EXISTS let DuckDB read every key of a 1.4M-row dim_transaction for 30 changed rows.
  const first = table.key[0];
  return [
    `SELECT ${table.key.map((k) => `changed.${k}`).join(', ')}`,
    `FROM (SELECT DISTINCT ${key} FROM ${table.name}) AS changed`,
    `LEFT JOIN (SELECT DISTINCT ${key} FROM previous_${table.name} WHERE ${first} IN (SELECT ${first} FROM ${table.name})) AS kept ON ${sameKey}`,
    `WHERE kept.${first} IS NULL`,
  ].join('\n');
}

/**
 * Builds a dimension by key (see the top of this file): writes the batch's change set and returns
 * the dimension's output as the previous base with one delta more. Its `rows` are the previous
 * version's until the data tests have counted the keys the change set adds ({@link newKeysSql}).
 */
export async function writeDimensionByKey(
  ctx: Pick<PipelineContext, 'engine'>,
  file: SqlFile,
  target: WriteTarget,
  plan: ByKeyPlan,
  acceptOnly: readonly SourceTableName[],
): Promise<TransformOutput> {
  const name = file.table.name;
  const changesTarget: WriteTarget = { ...target, prefix: dimensionChangesPrefix(name, target.batchId) };
  const changed = plan.batchFiles
    ? await ctx.engine.write(readAcceptedOnly(besideDeltaSql(file.sql, plan.source), acceptOnly), { batch: { [plan.source]: plan.batchFiles }, current: {}, star: {} }, changesTarget)
    : await ctx.engine.write(readAcceptedOnly(file.sql, acceptOnly), { batch: {}, current: { [plan.source]: [plan.deltaPrefix] }, star: {} }, changesTarget);
  const change = { prefix: changesTarget.prefix, files: changed.files, rows: changed.rows };
  return {
    kind: 'dimension',
    prefix: plan.previous.prefix,
    origin: file.origin,
    sqlHash: file.sqlHash,
    rows: plan.previous.rows,
    files: plan.previous.files,
    bytesScanned: changed.bytesScanned,
    elapsedMs: changed.elapsedMs,
    changes: change,
    deltas: [...(plan.previous.deltas ?? []), change],
  };
}
