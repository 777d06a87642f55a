import { BATCH_ID_COLUMN, SOURCE_TABLES, sourceTable, type SourceTableName } from '../contract/source-tables';
import { lakeTrinoType, LINEAGE_COLUMNS, STAR_TABLES, starTable } from '../contract/star-tables';
import { FACT_MONTH_COLUMN, parseRawKey } from '../lake/lake-layout';
import { currentSegments, type CurrentLocation, type RelationBindings } from '../ports/query-engine';
import { currentStateColumns, latestStarSql, latestVersionsSql } from '../transform/current-state';
import { quoteIdent, stringLiteral } from './sql-text';

/**
 * What a statement reads, compiled once for every engine: the one `bind`.
 *
 * {@link compileRelations} turns the {@link RelationBindings} a stage passes to the engine into a
 * few kinds of relation, each with its name and its columns (Trino types as the lake stores them):
 *  - `raw`: raw NDJSON files of the ingestion store (`batch_<t>`, `raw_<t>`), with the (dt, batch)
 *    slices their keys name (the only place a batch id is read back from a raw key);
 *  - `parquet`: Parquet under one or more prefixes of the processed store, read as their union
 *    (`current_<t>`, `previous_<t>`, star tables, `previous_<star table>`);
 *  - `latest`: a current state held as base + deltas, read as the latest version of each row
 *    (current-state.ts `latestVersionsSql` over its segments, a `parquet` relation), or a by-key
 *    dimension held as base + deltas, read as the latest row of each key (dimension-by-key.ts;
 *    current-state.ts `latestStarSql`);
 *  - `empty`: the columns and no rows (a table bound to no files or no prefixes);
 *  - `fact`: a fact as analysts see it (`analystFacts`): its stored rows (a `parquet` or `empty`
 *    relation) with `created_month` and `batch_id` added, the columns of Athena's view of the fact.
 *
 * An engine only says how it reads a `raw` and a `parquet` relation (a {@link RelationReader}:
 * DuckDB's `read_json` / `read_parquet`, Trino's tables over locations, Athena's Glue tables);
 * {@link relationEntries} makes the WITH entries, the same for all.
 */

/** A column of a bound relation, typed as the lake stores it in Trino's names (a time is `varchar`). */
export interface RelationColumn {
  name: string;
  type: string;
}

/** The (dt partition, batch) a raw file belongs to, read from its key. */
export interface RawSlice {
  dt: string;
  batchId: string;
}

export interface RawRelation {
  kind: 'raw';
  name: string;
  table: SourceTableName;
  /** Keys in the ingestion store; never empty (no files bind an `empty` relation). */
  keys: readonly string[];
  /** The distinct slices of `keys`, in batch order. */
  slices: readonly RawSlice[];
  /** The batch a `batch_<t>` relation reads (its files all name it); undefined for `raw_<t>`. */
  batchId?: string;
  columns: readonly RelationColumn[];
}

export interface ParquetRelation {
  kind: 'parquet';
  name: string;
  /** The processed table whose shape the files have: a star table, or `current_<source table>`. */
  shape: string;
  /** Key prefixes in the processed store (at least one), read as one relation. */
  prefixes: readonly string[];
  columns: readonly RelationColumn[];
}

export interface LatestRelation {
  kind: 'latest';
  name: string;
  /** A source table's current state (latest version per primary key, current-state.ts). */
  table?: SourceTableName;
  /** Or a by-key star dimension's base + deltas (latest `_batch_id` per key, dimension-by-key.ts). */
  star?: string;
  /** The segments, base first: bound under their own name (`_segments_<name>`). */
  segments: ParquetRelation;
}

export interface EmptyRelation {
  kind: 'empty';
  name: string;
  columns: readonly RelationColumn[];
}

export interface AnalystFactRelation {
  kind: 'fact';
  name: string;
  /** The fact as stored: bound under its own name (`_stored_<name>`). */
  stored: ParquetRelation | EmptyRelation;
}

export type Relation = RawRelation | ParquetRelation | LatestRelation | EmptyRelation | AnalystFactRelation;

/** Name of the analyst's fact column holding the batch of a version (Glue's partition key of the recent batches). */
export const FACT_BATCH_COLUMN = 'batch_id';

/** How one engine reads the two kinds of relation that hold data: a SELECT producing its rows. */
export interface RelationReader {
  raw(relation: RawRelation): Promise<string> | string;
  /** `undefined` when the prefixes hold no files: the relation is then bound empty. */
  parquet(relation: ParquetRelation): Promise<string | undefined> | string | undefined;
  /** The engine's name of a lake column type (identity for Trino and Athena). */
  columnType(type: string): string;
  /**
   * Relations the engine must read where each mention is, never once into a materialized result
   * (`AS NOT MATERIALIZED`, DuckDB's syntax; Trino and Athena always inline). DuckDB materializes a
   * CTE a statement names twice, and a materialized one takes no join filter: the data tests' two
   * semi-joins of a by-key dimension's previous version each read all its 1.4M keys.
   */
  inlined?(name: string): boolean;
}

/** Raw-table columns in order: the contract's, then `_batch_id`. */
export function rawColumns(table: SourceTableName): RelationColumn[] {
  return currentStateColumns(sourceTable(table)).map((c) => ({ name: c.name, type: c.trinoType }));
}

/** Columns of a star table in the lake: the contract's, then the lineage columns. */
export function starColumns(name: string): RelationColumn[] {
  const star = STAR_TABLES.find((t) => t.name === name);
  if (!star) throw new Error(`Cannot bind star relation "${name}": the star contract has no such table`);
  return [...star.columns.map((c) => ({ name: c.name, type: lakeTrinoType(c.type) })), ...LINEAGE_COLUMNS.map((n) => ({ name: n, type: 'varchar' }))];
}

/** Every relation `bindings` names, in a fixed order: per source table, then per star table. */
export function compileRelations(bindings: RelationBindings): Relation[] {
  const relations: Relation[] = [];
  for (const { name: table } of SOURCE_TABLES) {
    const batch = bindings.batch[table];
    if (batch) relations.push(rawRelation(`batch_${table}`, table, batch, true));
    const raw = bindings.raw?.[table];
    if (raw) relations.push(rawRelation(`raw_${table}`, table, raw, false));
    const current = bindings.current[table];
    if (current !== undefined) relations.push(currentRelation(`current_${table}`, table, current));
    const previous = bindings.previous?.[table];
    if (previous !== undefined) relations.push(currentRelation(`previous_${table}`, table, previous));
  }
  for (const [name, prefixes] of Object.entries(bindings.star)) {
    if (!prefixes) continue;
    const columns = starColumns(name);
    const relation = starRelation(name, name, prefixes, bindings.starDeltas?.[name], columns);
    if (bindings.analystFacts && starTable(name).kind === 'fact' && (relation.kind === 'parquet' || relation.kind === 'empty')) {
      relations.push({ kind: 'fact', name, stored: { ...relation, name: `_stored_${name}` } });
    } else {
      relations.push(relation);
    }
    const previous = bindings.previousStar?.[name];
    if (previous !== undefined) relations.push(starRelation(`previous_${name}`, name, typeof previous === 'string' ? [previous] : previous, bindings.previousStarDeltas?.[name], columns));
  }
  for (const name of Object.keys(bindings.previousStar ?? {})) {
    if (!bindings.star[name]) throw new Error(`previous_${name} is bound without ${name}: bind both to compare them`);
  }
  return relations;
}

function rawRelation(name: string, table: SourceTableName, keys: readonly string[], batch: boolean): RawRelation | EmptyRelation {
  const columns = rawColumns(table);
  if (keys.length === 0) return { kind: 'empty', name, columns };
  const slices = new Map<string, RawSlice>();
  for (const key of keys) {
    const { dt, batchId } = parseRawKey(table, key);
    slices.set(`${batchId}/${dt}`, { dt, batchId });
  }
  const ordered = [...slices.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
  const relation: RawRelation = { kind: 'raw', name, table, keys, slices: ordered, columns };
  if (!batch) return relation;
  const ids = new Set(ordered.map((s) => s.batchId));
  if (ids.size !== 1) throw new Error(`${name} is bound to files of ${ids.size} batches (${[...ids].join(', ')}); a batch relation names one batch`);
  return { ...relation, batchId: ordered[0].batchId };
}

function parquetRelation(name: string, shape: string, prefixes: readonly string[], columns: readonly RelationColumn[]): ParquetRelation | EmptyRelation {
  return prefixes.length ? { kind: 'parquet', name, shape, prefixes, columns } : { kind: 'empty', name, columns };
}

/** A star table's prefixes read as their union, or a by-key dimension's base + deltas read as its latest rows. */
function starRelation(name: string, shape: string, prefixes: readonly string[], deltas: readonly string[] | undefined, columns: readonly RelationColumn[]): Relation {
  if (!deltas?.length) return parquetRelation(name, shape, prefixes, columns);
  if (prefixes.length !== 1) throw new Error(`${name} is bound with deltas on ${prefixes.length} base prefixes; a by-key dimension has one base`);
  return { kind: 'latest', name, star: shape, segments: { kind: 'parquet', name: `_segments_${name}`, shape, prefixes: [...prefixes, ...deltas], columns } };
}

function currentRelation(name: string, table: SourceTableName, location: CurrentLocation): Relation {
  const columns = rawColumns(table);
  const prefixes = currentSegments(location);
  if (prefixes.length < 2) return parquetRelation(name, `current_${table}`, prefixes, columns);
  return { kind: 'latest', name, table, segments: { kind: 'parquet', name: `_segments_${name}`, shape: `current_${table}`, prefixes, columns } };
}

/**
 * The relations of `relations` that `sql` names (as a whole word, in any case; a mention in a
 * comment keeps one too): a stage binds every relation a statement may read (all the batch's and
 * current tables, say), while each statement reads a few, and an engine binding the others would
 * list their files and read their Parquet footers for nothing (issue 14, item 1). A `latest`
 * relation keeps its segments, which are bound under their own name.
 */
export function mentionedRelations(relations: readonly Relation[], sql: string): Relation[] {
  const words = sqlWords(sql);
  return relations.filter((r) => words.has(r.name.toLowerCase()));
}

/** The names an SQL text mentions as whole words, lower-cased (comments included): what {@link mentionedRelations} matches relations against. */
export function sqlWords(sql: string): Set<string> {
  return new Set(sql.toLowerCase().match(/[a-z_][a-z0-9_]*/g) ?? []);
}

/** The WITH entries (`"name" AS (…)`) binding `relations`, each read as `reader` says. */
export async function relationEntries(relations: readonly Relation[], reader: RelationReader): Promise<string[]> {
  const entries: string[] = [];
  const entry = (name: string, sql: string): number => entries.push(`${quoteIdent(name)} AS ${reader.inlined?.(name) ? 'NOT MATERIALIZED ' : ''}(${sql})`);
  const parquet = async (r: ParquetRelation): Promise<string> => (await reader.parquet(r)) ?? emptySql(r.columns, reader);
  for (const r of relations) {
    if (r.kind === 'raw') entry(r.name, await reader.raw(r));
    else if (r.kind === 'parquet') entry(r.name, await parquet(r));
    else if (r.kind === 'empty') entry(r.name, emptySql(r.columns, reader));
    else if (r.kind === 'fact') {
      entry(r.stored.name, r.stored.kind === 'parquet' ? await parquet(r.stored) : emptySql(r.stored.columns, reader));
      entry(r.name, analystFactSql(r.stored.columns, quoteIdent(r.stored.name)));
    } else {
      entry(r.segments.name, await parquet(r.segments));
      const segments = quoteIdent(r.segments.name);
      entry(r.name, r.table ? latestVersionsSql(sourceTable(r.table), segments) : latestStarSql(starTable(r.star!), segments));
    }
  }
  return entries;
}

/**
 * A fact's stored rows as analysts read them, the same columns as Athena's view of it
 * (aws/fact-view.ts `factViewColumns`): the stored columns, `created_month` and `batch_id`.
 */
export function analystFactSql(columns: readonly RelationColumn[], from: string): string {
  const stored = columns.map((c) => quoteIdent(c.name));
  return `SELECT ${[...stored, `substr(CAST(created_date AS varchar), 1, 7) AS ${quoteIdent(FACT_MONTH_COLUMN)}`, `${quoteIdent('_batch_id')} AS ${quoteIdent(FACT_BATCH_COLUMN)}`].join(', ')} FROM ${from}`;
}

function emptySql(columns: readonly RelationColumn[], reader: Pick<RelationReader, 'columnType'>): string {
  return `SELECT ${columns.map((c) => `CAST(NULL AS ${reader.columnType(c.type)}) AS ${quoteIdent(c.name)}`).join(', ')} WHERE false`;
}

/**
 * The rows of a raw relation's slices in a raw table partitioned by `dt` with a `_batch_id` column
 * (Glue's `raw_<t>`, Trino's): filtering on both prunes to the slices' partitions and files, so files
 * of a batch whose manifest was never written stay invisible.
 */
export function rawSliceFilter(relation: RawRelation): string {
  return relation.slices.map((s) => `(dt = ${stringLiteral(s.dt)} AND ${quoteIdent(BATCH_ID_COLUMN)} = ${stringLiteral(s.batchId)})`).join(' OR ');
}
