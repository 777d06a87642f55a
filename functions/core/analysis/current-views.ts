import { byKeyDimensions, LINEAGE_COLUMNS, STAR_TABLES, versionsTableName, type StarTable } from '../contract/star-tables';
import { checkIdent, prependCtes } from '../sql/sql-text';
import { latestStarSql } from '../transform/current-state';

/**
 * The analyst layer's current-state views: `<fact>_current` holds the latest version of each order
 * or payment, beside the full-history fact. One definition, from the star contract, serves:
 *  - the lake in DuckDB (`totes query` and the analysis tests): bound as CTEs by {@link withCurrentViews};
 *  - Athena (Trino): `CREATE OR REPLACE VIEW` DDL from {@link athenaCurrentViewDdl};
 *  - the warehouse: `sql/warehouse/0004_current_views_by_batch.sql` (migrations are immutable files,
 *    so that file holds this SELECT as it was when written; a contract change needs a new migration).
 *
 * "Latest" is the version of the latest batch, not the greatest stamp: `last_updated` is the
 * writer's clock, and a version rescued after a late commit can carry an older stamp than the one
 * it supersedes (functions/core/transform/current-state.ts says why batch order is commit order for
 * one row). The lake orders by `_batch_id`; the warehouse by the fact's surrogate key, an identity
 * the load assigns in batch order (batches load in sequence, and a batch holds at most one version
 * of a row). (last_updated_date, last_updated_time) only breaks ties that cannot occur.
 */

export interface CurrentView {
  name: string;
  fact: StarTable;
}

export const CURRENT_VIEWS: readonly CurrentView[] = STAR_TABLES.filter((t) => t.kind === 'fact').map((fact) => ({ name: `${fact.name}_current`, fact }));

export type ViewTarget = 'lake' | 'warehouse';

/** Columns of a current view: the lake keeps the lineage columns, the warehouse its surrogate key. */
export function currentViewColumns(fact: StarTable, target: ViewTarget): string[] {
  const data = fact.columns.map((c) => c.name);
  return target === 'lake' ? [...data, ...LINEAGE_COLUMNS] : [...(fact.surrogateKey ? [fact.surrogateKey] : []), ...data];
}

/** The view's SELECT, valid in DuckDB, Trino and PostgreSQL alike. Identifiers come from the contract. */
export function currentViewSelect(view: CurrentView, target: ViewTarget): string {
  const cols = currentViewColumns(view.fact, target);
  const [id] = view.fact.key;
  const latest = target === 'lake' ? '_batch_id DESC, ' : view.fact.surrogateKey ? `${view.fact.surrogateKey} DESC, ` : '';
  return [
    `SELECT ${cols.join(', ')}`,
    'FROM (',
    `  SELECT ${cols.join(', ')},`,
    `         row_number() OVER (PARTITION BY ${id} ORDER BY ${latest}last_updated_date DESC, last_updated_time DESC) AS version_rank`,
    `  FROM ${view.fact.name}`,
    ') AS versions',
    'WHERE version_rank = 1',
  ].join('\n');
}

/** Athena (Trino) DDL creating every current view in `database` (a Glue database name). */
export function athenaCurrentViewDdl(database: string): string[] {
  checkIdent(database);
  return CURRENT_VIEWS.map((view) => `CREATE OR REPLACE VIEW ${database}.${view.name} AS\n${currentViewSelect(view, 'lake').replace(/\bFROM (fact_\w+)$/m, `FROM ${database}.$1`)}`);
}

/**
 * Athena's view of a by-key dimension kept as base + deltas (core/transform/dimension-by-key.ts):
 * in Glue its segments are the partitions of `<dim>_versions` (aws/glue-catalog.ts), and the view
 * named for the dimension merges them with the transform's own `latestStarSql`, the latest row per
 * key, so analysts see one row per key as they always did. The lake in DuckDB needs no view: the
 * folder catalog holds base + deltas as one location and `lakeBindings` binds them merged.
 */
export interface DimensionView {
  name: string;
  dimension: StarTable;
  versions: string;
}

export const DIMENSION_VIEWS: readonly DimensionView[] = byKeyDimensions().map((dimension) => ({ name: dimension.name, dimension, versions: versionsTableName(dimension.name) }));

/** Athena (Trino) DDL creating every by-key dimension's view in `database`. */
export function athenaDimensionViewDdl(database: string): string[] {
  checkIdent(database);
  return DIMENSION_VIEWS.map((view) => `CREATE OR REPLACE VIEW ${database}.${view.name} AS\n${latestStarSql(view.dimension, `${database}.${view.versions}`)}`);
}

/** The warehouse migration's body (what `sql/warehouse/0004_current_views_by_batch.sql` was written from). */
export function warehouseCurrentViewsSql(): string {
  return CURRENT_VIEWS.map((view) => `CREATE OR REPLACE VIEW ${view.name} AS\n${currentViewSelect(view, 'warehouse')};`).join('\n\n');
}

/**
 * Makes the current views available to one lake query by prepending them as CTEs — only the ones
 * the query names, so a query that needs none pays nothing. The engine then prepends its own
 * bindings (the fact tables) in front, so the views read the bound facts.
 */
export function withCurrentViews(sql: string): string {
  const used = CURRENT_VIEWS.filter((v) => new RegExp(`\\b${v.name}\\b`, 'i').test(sql.replace(/--[^\n]*/g, ' ')));
  if (!used.length) return sql;
  return prependCtes(sql, used.map((v) => `${v.name} AS (\n${currentViewSelect(v, 'lake')}\n)`));
}
