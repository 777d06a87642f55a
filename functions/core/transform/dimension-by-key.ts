import type { SourceTableName } from '../contract/source-tables';
import type { StarTable } from '../contract/star-tables';
import { currentPrefix, dimensionChangesPrefix } from '../lake/lake-layout';
import type { TransformOutput } from '../lake/manifests';
import type { WriteTarget } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';
import { readAcceptedOnly } from './input-checks';
import type { SqlFile } from './sql-files';

/**
 * Maintaining a dimension by key instead of rebuilding it whole.
 *
 * A dimension declared `byKey` in the star contract promises that each of its rows depends only on
 * the latest version of one row of its one source table. A batch that wrote a delta of that table
 * (current-state.ts: exactly the batch's latest version per key) then changes exactly the rows of
 * the delta's keys, and nothing else:
 *  1. the dimension's own SQL file, with `current_<source>` bound to the delta alone, gives those
 *     rows; they are the batch's change set (where the load reads it, `dimensionChangesPrefix`);
 *  2. the new dimension is the previous version's rows of every other key, plus the change set
 *     ({@link byKeyMergeSql}), written where a whole rebuild would be.
 * On dim_transaction (1.4M rows, ~15 new a batch) this reads the delta and the previous version once
 * instead of rebuilding from base + deltas through a window dedupe, then diffing with EXCEPT.
 *
 * The result equals a whole rebuild row for row, lineage included: every row gets this batch's id
 * and the SQL file's hash, since it is that file's result. Hence the output records the file's
 * origin and sqlHash, so the next batch's "built by the same SQL" check still compares file hashes;
 * a changed file fails that check and the dimension is rebuilt whole. The change set may hold rows
 * whose values did not change (a version that touched only last_updated): the load's upsert skips
 * rows that are not distinct.
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
  /** The dimension as the previous batch left it. */
  previousPrefix: string;
}

/**
 * Whether a dimension is built by key in this batch, and from what: only when it is declared so,
 * its previous version was built by the same SQL file, and its source wrote a delta in this batch.
 * A compacted source has no record of just this batch's versions, and a first build or a changed
 * file has nothing trustworthy to start from: those are rebuilt whole (undefined).
 */
export function planByKey(
  file: Pick<SqlFile, 'table' | 'sqlHash'>,
  previous: TransformOutput | undefined,
  currentDeltas: Partial<Record<SourceTableName, readonly TransformOutput[]>>,
  batchId: string,
): ByKeyPlan | undefined {
  const source = byKeySource(file.table);
  if (!source || !previous || previous.sqlHash !== file.sqlHash) return undefined;
  const delta = currentDeltas[source]?.at(-1);
  if (!delta || delta.prefix !== currentPrefix(source, batchId)) return undefined;
  return { source, deltaPrefix: delta.prefix, previousPrefix: previous.prefix };
}

/**
 * The new version of a by-key dimension: the previous version's rows whose key is not among the
 * changes, then the changes. Reads `previous_<dim>` (the version this batch replaces) and `<dim>`
 * bound to the change set. Identifiers come from the star contract; valid Trino and DuckDB SQL.
 */
export function byKeyMergeSql(table: StarTable): string {
  const columns = table.columns.map((c) => c.name).join(', ');
  const sameKey = table.key.map((k) => `changed.${k} = kept.${k}`).join(' AND ');
  return [
    `-- ${table.name}: the previous version with this batch's changed keys replaced (generated, by key).`,
    `SELECT ${columns}`,
    `FROM previous_${table.name} AS kept`,
    `WHERE NOT EXISTS (SELECT 1 FROM ${table.name} AS changed WHERE ${sameKey})`,
    'UNION ALL',
    `SELECT ${columns}`,
    `FROM ${table.name}`,
    '',
  ].join('\n');
}

/**
 * Builds a dimension by key (see the top of this file): its change set, then the whole new version
 * at `target.prefix`. Returns the dimension's output with its `changes`, as a whole rebuild would.
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
  const changed = await ctx.engine.write(readAcceptedOnly(file.sql, acceptOnly), { batch: {}, current: { [plan.source]: [plan.deltaPrefix] }, star: {} }, changesTarget);
  const mergeTarget: WriteTarget = { ...target, origin: `generated by-key merge for ${file.origin}` };
  const merged = await ctx.engine.write(
    byKeyMergeSql(file.table),
    { batch: {}, current: {}, star: { [name]: [changesTarget.prefix] }, previousStar: { [name]: plan.previousPrefix } },
    mergeTarget,
  );
  return {
    kind: 'dimension',
    prefix: target.prefix,
    origin: file.origin,
    sqlHash: file.sqlHash,
    rows: merged.rows,
    files: merged.files,
    bytesScanned: changed.bytesScanned + merged.bytesScanned,
    elapsedMs: changed.elapsedMs + merged.elapsedMs,
    changes: { prefix: changesTarget.prefix, files: changed.files, rows: changed.rows },
  };
}
