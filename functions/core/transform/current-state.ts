import { BATCH_ID_COLUMN, trinoType, type SourceTable } from '../contract/source-tables';

/**
 * The compacted current state of a source table: the latest version of every source row.
 *
 * Each batch merges its raw rows (`batch_<table>`) into the previous state (`previous_<table>`)
 * instead of rescanning the whole raw history, so a batch costs in proportion to its own size.
 * The statement is generated from the table contract alone and is valid Trino and DuckDB SQL.
 *
 * Which version wins, per primary key: the greatest `last_updated`; on a tie, the greatest
 * `_batch_id` (batch ids sort in batch order, and every row keeps the batch that extracted it);
 * on a further tie, the same version was read twice and its copies are interchangeable, but the
 * remaining columns still order the candidates so the choice never depends on file order.
 */

/** Output columns of a current-state table: the contract columns, then `_batch_id`. */
export function currentStateColumns(table: SourceTable): { name: string; trinoType: string }[] {
  return [
    ...table.columns.map((c) => ({ name: c.name, trinoType: trinoType(c.type) })),
    { name: BATCH_ID_COLUMN, trinoType: 'varchar' },
  ];
}

/**
 * The SELECT merging `batch_<table>` into `previous_<table>` (omitted when there is no previous
 * state: the table's first batch).
 */
export function currentStateSql(table: SourceTable, options: { hasPrevious: boolean }): string {
  const columns = currentStateColumns(table).map((c) => c.name);
  const list = columns.join(', ');
  const tiebreak = table.columns
    .map((c) => c.name)
    .filter((name) => name !== table.primaryKey && name !== 'last_updated')
    .map((name) => `${name} ASC NULLS LAST`);
  const order = ['last_updated DESC', `${BATCH_ID_COLUMN} DESC`, ...tiebreak].join(', ');
  const sources = [
    ...(options.hasPrevious ? [`  SELECT ${list} FROM previous_${table.name}`] : []),
    `  SELECT ${list} FROM batch_${table.name}`,
  ].join('\n  UNION ALL\n');
  return [
    `-- current_${table.name}: the latest version of every ${table.name} row (generated from the table contract).`,
    `SELECT ${list}`,
    `FROM (`,
    `  SELECT ${list},`,
    `    row_number() OVER (PARTITION BY ${table.primaryKey} ORDER BY ${order}) AS version_rank`,
    `  FROM (`,
    sources,
    `  ) AS versions`,
    `) AS ranked`,
    `WHERE version_rank = 1`,
    '',
  ].join('\n');
}
