import { BATCH_ID_COLUMN, sourceTable, trinoType, type SourceTableName } from '../../core/contract/source-tables';
import { LINEAGE_COLUMNS } from '../../core/contract/star-tables';
import { BATCH_ID_PATTERN, batchDate, parseRawKey } from '../../core/lake/lake-layout';
import type { WriteTarget } from '../../core/ports/query-engine';
import { quoteLakeIdent, splitSelect, stringLiteral } from '../../core/sql/sql-text';

/**
 * The SQL text the Athena and Trino engines run around a `sql/transform/*.sql` SELECT.
 *
 * A transform file is one SELECT that reads relations by name (`batch_<table>`, `current_<table>`,
 * star tables). This module turns it into the statement an engine submits:
 *
 *   CREATE TABLE "<db>"."<tmp>" WITH (format = 'PARQUET', …, external_location = 's3://…/') AS
 *   WITH batch_sales_order AS (SELECT … FROM "<raw db>"."raw_sales_order" WHERE dt = … AND _batch_id = …),
 *        current_address AS (SELECT * FROM "<db>"."<staged table>"),
 *        <the file's own WITH entries, if any>,
 *        _totes_result AS (<the file's SELECT>),
 *        _totes_output AS (SELECT CAST("col" AS <type>) AS "col", …, '<batch>' AS "_batch_id", … FROM _totes_result)
 *   SELECT * FROM _totes_output
 *
 * Everything here is pure text generation, unit-tested without an engine. Values never come from
 * users: batch ids and dates come from our manifests and are validated against their patterns
 * before they become literals; identifiers come from the contracts and are validated too.
 */

export type SqlDialect = 'athena' | 'trino';

/** Where tables live. Trino names a catalog in front; Athena's default catalog is Glue's. */
export interface SqlNamespace {
  catalog?: string;
  /** Database (Trino: schema) of the raw tables `raw_<table>`. */
  rawDatabase: string;
  /** Database of the star, current-state and staged tables. */
  processedDatabase: string;
}

/** A relation name a SELECT may read, bound to the SQL that produces it (one WITH entry). */
export interface BoundRelation {
  name: string;
  sql: string;
}

/** Athena fails a query that writes more than this many partitions (HIVE_TOO_MANY_OPEN_PARTITIONS). */
export const MAX_PARTITIONS_PER_WRITE = 100;

const TYPE = /^[a-z]+( [a-z]+)*(\(\d+(, ?\d+)?\))?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const RESULT = '_totes_result';
const OUTPUT = '_totes_output';

/** `"catalog"."database"."table"` (Trino) or `"database"."table"` (Athena). */
export function qualifiedTable(ns: SqlNamespace, database: string, table: string): string {
  return [ns.catalog, database, table].filter((p): p is string => p !== undefined).map(quoteLakeIdent).join('.');
}

export const rawTableName = (table: SourceTableName): string => `raw_${table}`;

/** A Trino type as written into the lake: Hive tables (Glue, Parquet) have no TIME, so times are 'HH:MM:SS.fff' text. */
export function storageType(type: string): string {
  if (!TYPE.test(type)) throw new Error(`"${type}" is not a column type the contracts declare`);
  return /^time(\(\d+\))?$/.test(type) ? 'varchar' : type;
}

function cast(column: string, type: string): string {
  const stored = storageType(type);
  const col = quoteLakeIdent(column);
  // A time goes through time(3) first so that '9:05' and TIME '09:05:00' both become '09:05:00.000'.
  if (stored !== type) return `CAST(CAST(${col} AS time(3)) AS varchar) AS ${col}`;
  return `CAST(${col} AS ${type}) AS ${col}`;
}

/**
 * Binds `batch_<table>` to this batch's rows of the raw Glue/Hive table `raw_<table>`.
 *
 * The raw keys of a batch name their `dt` partition and batch id (`raw/<t>/dt=<d>/<batch>[-pNNNN].ndjson.gz`);
 * filtering on both lets the engine prune to one partition and the batch's own files. With no keys
 * (nothing changed in that table) the relation still exists, filtered to `batchId`, and is empty.
 */
export function batchRelation(ns: SqlNamespace, table: SourceTableName, keys: readonly string[], batchId: string): BoundRelation {
  return rawSliceRelation(ns, `batch_${table}`, table, keys, batchId);
}

/**
 * Binds `raw_<table>` (queries only) to the published raw files given: the raw table filtered to
 * their (dt, batch) pairs, so files of a batch whose manifest was never written stay invisible.
 */
export function rawRelation(ns: SqlNamespace, table: SourceTableName, keys: readonly string[]): BoundRelation {
  return rawSliceRelation(ns, rawTableName(table), table, keys, undefined);
}

function rawSliceRelation(ns: SqlNamespace, name: string, table: SourceTableName, keys: readonly string[], emptyBatchId: string | undefined): BoundRelation {
  const contract = sourceTable(table);
  const slices = new Map<string, { dt: string; batchId: string }>();
  for (const key of keys) {
    const slice = parseRawKey(table, key);
    slices.set(`${slice.dt}/${slice.batchId}`, slice);
  }
  if (slices.size === 0 && emptyBatchId !== undefined) slices.set('', { dt: batchDate(emptyBatchId), batchId: emptyBatchId });
  const filter =
    slices.size === 0
      ? 'false'
      : [...slices.values()]
          .sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0))
          .map((s) => `(dt = ${stringLiteral(validDate(s.dt))} AND ${quoteLakeIdent(BATCH_ID_COLUMN)} = ${stringLiteral(validBatchId(s.batchId))})`)
          .join(' OR ');
  const columns = [...contract.columns.map((c) => c.name), BATCH_ID_COLUMN].map(quoteLakeIdent).join(', ');
  return { name, sql: `SELECT ${columns} FROM ${qualifiedTable(ns, ns.rawDatabase, rawTableName(table))} WHERE ${filter}` };
}

/** Binds `name` to a table the engine registered (a staged prefix, or a published table). */
export function tableRelation(name: string, qualified: string): BoundRelation {
  quoteLakeIdent(name);
  return { name, sql: `SELECT * FROM ${qualified}` };
}

/** Binds `name` to the union of several registered tables (e.g. a fact read from several prefixes). */
export function unionRelation(name: string, qualified: readonly string[]): BoundRelation {
  quoteLakeIdent(name);
  if (qualified.length === 0) throw new Error(`Relation ${name} is bound to no table`);
  return { name, sql: qualified.map((q) => `SELECT * FROM ${q}`).join(' UNION ALL ') };
}

function validBatchId(id: string): string {
  if (!BATCH_ID_PATTERN.test(id)) throw new Error(`"${id}" is not a batch id; it cannot be bound into SQL`);
  return id;
}

function validDate(dt: string): string {
  if (!DATE.test(dt)) throw new Error(`"${dt}" is not a dt partition (YYYY-MM-DD)`);
  return dt;
}

/**
 * The file's SELECT with `relations` bound in front of it as WITH entries, merged with the
 * file's own WITH list. Used for reads (`query`); writes use {@link writeQuery}.
 */
export function withRelations(select: string, relations: readonly BoundRelation[]): string {
  const { ctes, body } = splitSelect(select);
  const entries = [...relations.map(entry), ...(ctes ? [ctes] : [])];
  return entries.length === 0 ? body : `WITH\n${entries.join(',\n')}\n${body}`;
}

function entry(r: BoundRelation): string {
  return `${quoteLakeIdent(r.name)} AS (${r.sql})`;
}

/** One output column: taken from the SELECT (cast to its type) or a lineage constant. */
interface OutputColumn {
  name: string;
  expression: string;
  type: string;
}

/**
 * Output columns of a write, in the order the table stores them: the target's columns cast to
 * their types; then each lineage column (`_batch_id`, `_sql_hash`) the target does not already
 * list, set to this write's batch and SQL hash; partition columns last, as Hive requires.
 * A lineage column the target lists (e.g. a current-state table's `_batch_id`, the batch that
 * extracted the row) is data from the SELECT, not overwritten.
 */
export function outputColumns(target: WriteTarget): OutputColumn[] {
  const listed = new Set(target.columns.map((c) => c.name));
  const columns: OutputColumn[] = target.columns.map((c) => ({ name: c.name, expression: cast(c.name, c.trinoType), type: storageType(c.trinoType) }));
  const lineage: Record<(typeof LINEAGE_COLUMNS)[number], string> = { _batch_id: validBatchId(target.batchId), _sql_hash: target.sqlHash };
  for (const name of LINEAGE_COLUMNS) {
    if (!listed.has(name)) columns.push({ name, expression: `CAST(${stringLiteral(lineage[name])} AS varchar) AS ${quoteLakeIdent(name)}`, type: 'varchar' });
  }
  const partitionedBy = target.partitionedBy ?? [];
  for (const p of partitionedBy) {
    if (!columns.some((c) => c.name === p)) throw new Error(`Partition column ${p} of ${target.table} is not one of its columns (${target.origin})`);
  }
  return [...columns.filter((c) => !partitionedBy.includes(c.name)), ...partitionedBy.map((p) => columns.find((c) => c.name === p)!)];
}

/** A set of partitions, as the values of the partition columns (null = Hive's default partition). */
export type PartitionValues = readonly (string | null)[];

/**
 * The query part of a write: bindings, the file's WITH entries, the SELECT, then the cast and
 * lineage projection; optionally only rows of the given partitions (see {@link planWrite}).
 */
export function writeQuery(select: string, relations: readonly BoundRelation[], target: WriteTarget, only?: readonly PartitionValues[]): string {
  const { ctes, body } = splitSelect(select);
  const columns = outputColumns(target);
  const entries = [
    ...relations.map(entry),
    ...(ctes ? [ctes] : []),
    `${RESULT} AS (\n${body}\n)`,
    `${OUTPUT} AS (SELECT ${columns.map((c) => c.expression).join(', ')} FROM ${RESULT})`,
  ];
  const where = only ? `\nWHERE ${partitionFilter(target, only)}` : '';
  return `WITH\n${entries.join(',\n')}\nSELECT * FROM ${OUTPUT}${where}`;
}

function partitionFilter(target: WriteTarget, only: readonly PartitionValues[]): string {
  const partitionedBy = target.partitionedBy ?? [];
  const types = new Map(outputColumns(target).map((c) => [c.name, c.type]));
  if (only.length === 0) return 'false';
  return only
    .map((values) => {
      if (values.length !== partitionedBy.length) throw new Error(`Partition of ${target.table} needs ${partitionedBy.length} values, got ${values.length}`);
      const parts = partitionedBy.map((p, i) => {
        const v = values[i];
        return v === null ? `${quoteLakeIdent(p)} IS NULL` : `${quoteLakeIdent(p)} = CAST(${stringLiteral(v)} AS ${types.get(p)})`;
      });
      return `(${parts.join(' AND ')})`;
    })
    .join(' OR ');
}

/** Table properties of a CTAS: Parquet + ZSTD (Athena; Trino sets compression per session). */
function tableProperties(dialect: SqlDialect, location: string, partitionedBy: readonly string[]): string {
  const props = [`format = 'PARQUET'`];
  if (dialect === 'athena') props.push(`write_compression = 'ZSTD'`);
  props.push(`external_location = ${stringLiteral(location)}`);
  if (partitionedBy.length > 0) props.push(`partitioned_by = ARRAY[${partitionedBy.map(stringLiteral).join(', ')}]`);
  return props.join(', ');
}

export interface WriteStatementInput {
  dialect: SqlDialect;
  /** Qualified name of the table the CTAS creates / the INSERT fills (a temporary table of the engine). */
  table: string;
  /** Full URI of `target.prefix` (`s3://bucket/prefix/`); must be empty for a CTAS. */
  location: string;
  select: string;
  relations: readonly BoundRelation[];
  target: WriteTarget;
  /** Only rows of these partitions (a chunk of a split write). */
  only?: readonly PartitionValues[];
}

/** `CREATE TABLE <table> WITH (format = 'PARQUET', …, external_location = …) AS <query>`. */
export function ctasStatement(input: WriteStatementInput): string {
  const { dialect, table, location, select, relations, target, only } = input;
  if (!location.endsWith('/')) throw new Error(`Write location ${location} of ${target.table} must end with '/'`);
  return `CREATE TABLE ${table}\nWITH (${tableProperties(dialect, location, target.partitionedBy ?? [])})\nAS\n${writeQuery(select, relations, target, only)}`;
}

/** `INSERT INTO <table> (<columns>) <query>`: the second and later chunks of a split write. */
export function insertStatement(input: Omit<WriteStatementInput, 'dialect' | 'location'>): string {
  const { table, select, relations, target, only } = input;
  const names = outputColumns(target).map((c) => quoteLakeIdent(c.name)).join(', ');
  return `INSERT INTO ${table} (${names})\n${writeQuery(select, relations, target, only)}`;
}

/**
 * The distinct partitions a write would create, for deciding whether to split it. Run it only for
 * targets with `partitionedBy`; each result row is one partition's values in `partitionedBy` order.
 */
export function partitionValuesQuery(select: string, relations: readonly BoundRelation[], target: WriteTarget): string {
  const partitionedBy = target.partitionedBy ?? [];
  if (partitionedBy.length === 0) throw new Error(`${target.table} is not partitioned; it needs no partition query`);
  const cols = partitionedBy.map(quoteLakeIdent).join(', ');
  return `SELECT DISTINCT ${cols} FROM (\n${writeQuery(select, relations, target)}\n) ORDER BY ${cols}`;
}

/**
 * The statements of one write, in order. An unpartitioned target, or one writing at most
 * {@link MAX_PARTITIONS_PER_WRITE} partitions, is one CTAS. A larger write is a CTAS of the first
 * chunk of partitions, then one INSERT INTO per further chunk, each touching at most `limit`
 * partitions (Athena's limit); all chunks write under the same location.
 */
export function planWrite(input: Omit<WriteStatementInput, 'only'> & { partitions?: readonly PartitionValues[]; limit?: number }): string[] {
  const { partitions, limit = MAX_PARTITIONS_PER_WRITE, ...rest } = input;
  if (!(limit >= 1)) throw new Error(`Partition limit must be at least 1, got ${limit}`);
  if (!rest.target.partitionedBy?.length || partitions === undefined || partitions.length <= limit) return [ctasStatement(rest)];
  const chunks: PartitionValues[][] = [];
  for (let i = 0; i < partitions.length; i += limit) chunks.push(partitions.slice(i, i + limit));
  return chunks.map((only, i) => (i === 0 ? ctasStatement({ ...rest, only }) : insertStatement({ ...rest, only })));
}

/** Raw-table columns in order: the contract's, then `_batch_id`; `dt` is the partition. */
function rawColumns(table: SourceTableName): { name: string; type: string }[] {
  return [...sourceTable(table).columns.map((c) => ({ name: c.name, type: trinoType(c.type) })), { name: BATCH_ID_COLUMN, type: 'varchar' }];
}

/**
 * Trino DDL of a raw table over the ingestion bucket: gzip NDJSON (Trino detects the `.gz`
 * suffix), partitioned by `dt`, with the same column types as the Glue definitions. Trino's Hive
 * connector does not discover partitions: call `system.sync_partition_metadata` (or register
 * them) after creating it.
 */
export function trinoRawTableDdl(ns: SqlNamespace, table: SourceTableName, location: string): string {
  const cols = [...rawColumns(table), { name: 'dt', type: 'varchar' }].map((c) => `${quoteLakeIdent(c.name)} ${c.type}`).join(',\n  ');
  return `CREATE TABLE IF NOT EXISTS ${qualifiedTable(ns, ns.rawDatabase, rawTableName(table))} (\n  ${cols}\n)\nWITH (format = 'JSON', external_location = ${stringLiteral(location)}, partitioned_by = ARRAY['dt'])`;
}

/**
 * Athena (Hive DDL) equivalent of the Glue raw table cdktf deploys: OpenX JSON SerDe, partition
 * projection on `dt` (no crawler, no MSCK REPAIR). For analysts recreating a table by hand.
 */
export function athenaRawTableDdl(rawDatabase: string, table: SourceTableName, location: string, firstDate: string): string {
  const hive = (type: string): string =>
    type === 'integer' ? 'int' : type === 'varchar' ? 'string' : type === 'timestamp(3)' ? 'timestamp' : type;
  const cols = rawColumns(table).map((c) => `\`${c.name}\` ${hive(c.type)}`).join(',\n  ');
  validDate(firstDate);
  return [
    `CREATE EXTERNAL TABLE IF NOT EXISTS \`${quoteLakeIdent(rawDatabase).slice(1, -1)}\`.\`${rawTableName(table)}\` (\n  ${cols}\n)`,
    `PARTITIONED BY (\`dt\` string)`,
    `ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'`,
    `LOCATION ${stringLiteral(location)}`,
    `TBLPROPERTIES ('projection.enabled' = 'true', 'projection.dt.type' = 'date', 'projection.dt.format' = 'yyyy-MM-dd',`,
    `  'projection.dt.range' = '${firstDate},NOW', 'projection.dt.interval' = '1', 'projection.dt.interval.unit' = 'DAYS')`,
  ].join('\n');
}
