import { BATCH_ID_COLUMN, trinoType, type SourceTable } from '../contract/source-tables';
import { LINEAGE_COLUMNS, type StarTable } from '../contract/star-tables';

/**
 * The current state of a source table: the latest version of every source row.
 *
 * It is kept as a compacted base plus, between compactions, the deltas of later batches (each a
 * batch's own latest versions): a batch that changes 1,000 of a million orders writes 1,000 rows
 * instead of rewriting the million (functions/core/transform/current-compaction.ts decides when to
 * fold the deltas back into a new base). Readers see the segments through {@link latestVersionsSql},
 * so base + deltas read exactly like one compacted table.
 *
 * Which version wins, per primary key: the one of the latest batch — the greatest `_batch_id`
 * (batch ids sort in batch order, and every row keeps the batch that extracted it). Not the greatest
 * `last_updated`: that is the writer's clock, and a version rescued after a late commit
 * (functions/core/extract/late-commits.ts) can carry an older stamp than the version it supersedes.
 * Batch order is commit order for one row: batch k+1's snapshot sees everything batch k's saw, a
 * snapshot sees one version of a row, and no version is read twice, so a row's version in a later
 * batch committed after (and so supersedes) its version in an earlier one. Within a batch a row has
 * at most one version; the greatest `last_updated`, then the remaining columns, still order the
 * candidates so the choice never depends on file order.
 * The statements are generated from the table contract alone and are valid Trino and DuckDB SQL.
 */

/** Output columns of a current-state table: the contract columns, then `_batch_id`. */
export function currentStateColumns(table: SourceTable): { name: string; trinoType: string }[] {
  return [
    ...table.columns.map((c) => ({ name: c.name, trinoType: trinoType(c.type) })),
    { name: BATCH_ID_COLUMN, trinoType: 'varchar' },
  ];
}

/**
 * The latest version of every row among `versions` (a relation name, or a parenthesized SELECT
 * with an alias), with the current-state columns.
 */
export function latestVersionsSql(table: SourceTable, versions: string): string {
  const list = currentStateColumns(table)
    .map((c) => c.name)
    .join(', ');
  const tiebreak = table.columns
    .map((c) => c.name)
    .filter((name) => name !== table.primaryKey && name !== 'last_updated')
    .map((name) => `${name} ASC NULLS LAST`);
  const order = [`${BATCH_ID_COLUMN} DESC`, 'last_updated DESC', ...tiebreak].join(', ');
  return [
    `SELECT ${list}`,
    `FROM (`,
    `  SELECT ${list},`,
    `    row_number() OVER (PARTITION BY ${table.primaryKey} ORDER BY ${order}) AS version_rank`,
    `  FROM ${versions}`,
    `) AS ranked`,
    `WHERE version_rank = 1`,
  ].join('\n');
}

/**
 * The latest row of every key of a by-key dimension held as base + deltas (dimension-by-key.ts),
 * `segments` naming the union of its base and its change sets: the row of the greatest `_batch_id`,
 * by the same argument as {@link latestVersionsSql} (a change set is built from the batch's latest
 * source versions, and holds each key once: its data tests check that). The dimension's columns
 * and lineage; valid Trino and DuckDB SQL, so every engine merges alike.
 */
export function latestStarSql(table: Pick<StarTable, 'columns' | 'key'>, segments: string): string {
  const list = [...table.columns.map((c) => c.name), ...LINEAGE_COLUMNS].join(', ');
  return [
    `SELECT ${list}`,
    `FROM (`,
    `  SELECT ${list},`,
    `    row_number() OVER (PARTITION BY ${table.key.join(', ')} ORDER BY ${BATCH_ID_COLUMN} DESC) AS version_rank`,
    `  FROM ${segments}`,
    `) AS ranked`,
    `WHERE version_rank = 1`,
  ].join('\n');
}

/**
 * The SELECT merging `batch_<table>` into `previous_<table>` (omitted when there is no previous
 * state: the table's first batch, or a delta, which holds only the batch's own latest versions).
 */
export function currentStateSql(table: SourceTable, options: { hasPrevious: boolean }): string {
  const list = currentStateColumns(table)
    .map((c) => c.name)
    .join(', ');
  const sources = [
    ...(options.hasPrevious ? [`    SELECT ${list} FROM previous_${table.name}`] : []),
    `    SELECT ${list} FROM batch_${table.name}`,
  ].join('\n    UNION ALL\n');
  return [
    `-- current_${table.name}: the latest version of every ${table.name} row (generated from the table contract).`,
    latestVersionsSql(table, `(\n${sources}\n  ) AS versions`),
    '',
  ].join('\n');
}

