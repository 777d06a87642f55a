import type { SourceTableName } from '../contract/source-tables';

/**
 * A query engine runs the transform's SQL over the lake and writes Parquet.
 *
 * Athena in the cloud, a team's Trino, DuckDB locally: one folder each under `functions/engines/`
 * (`athena/`, `trino/`, `duckdb/`), each with the same three files — `client.ts` (the wire),
 * `relations.ts` (how it reads the relations core/sql/relations.ts compiles from
 * {@link RelationBindings}) and `engine.ts` (this interface). All run the same `sql/transform/*.sql`
 * SELECTs; the engine, not the file, adds `CREATE TABLE … AS` / `INSERT INTO`, and binds the
 * relation names a file may read.
 */
export interface QueryEngine {
  readonly name: 'duckdb' | 'athena' | 'trino';

  /**
   * True when the engine reports the bytes each statement scanned (Athena: `DataScannedInBytes`;
   * Trino: the physical input bytes of its statement stats) in {@link QueryStats.bytesScanned} and
   * {@link QueryEngine.select}. DuckDB does not: its counts of bytes scanned are unknown, not 0.
   */
  readonly measuresScan?: boolean;

  /**
   * Runs `select` with the relations bound as `bindings` says, and writes its result as Parquet
   * under `target.prefix` in the processed store. Returns the number of rows written.
   */
  write(select: string, bindings: RelationBindings, target: WriteTarget): Promise<QueryStats>;

  /** Runs a read-only query and returns its rows (used by `totes query`, data tests and tests). */
  query(sql: string, bindings?: RelationBindings): Promise<Record<string, unknown>[]>;

  /** {@link QueryEngine.query} with the bytes its statement scanned: engines that measure scans ({@link measuresScan}) have it. */
  select?(sql: string, bindings?: RelationBindings): Promise<QueryAnswer>;

  /**
   * Told a table's raw files of a batch as soon as they are written, before the batch is published
   * (the local cycle's extract, run-cycle.ts): an engine that reads raw files into a form of its own
   * may start now, while the extract reads the other tables (DuckDB parses them into its scratch
   * Parquet, duckdb/relations.ts). Returns at once and never fails: a statement that binds the same
   * files later waits for that work, or does it again when it failed. Engines that read raw files
   * where they lie (Athena, Trino) have nothing to prepare.
   */
  prepare?(batch: RelationBindings['batch']): void;

  close(): Promise<void>;
}

/**
 * Relation names a transform SELECT may read, and what each one is:
 *  - `batch_<source table>`: the raw rows this batch extracted for that table (files from its manifest);
 *  - `current_<source table>`: the latest version of every source row, after merging this batch;
 *  - `previous_<source table>`: the same before this batch (read only by the current-state merge);
 *  - `<star table>` (e.g. `fact_sales_order`): the published star table;
 *  - `raw_<source table>`: every published raw row version (queries only).
 */
/** A current state's location: one prefix, or its segments (base first, then deltas in batch order). */
export type CurrentLocation = string | readonly string[];

/** The segments of a current-state location, base first. */
export function currentSegments(location: CurrentLocation): readonly string[] {
  return typeof location === 'string' ? [location] : location;
}

export interface RelationBindings {
  /** Raw files of this batch per source table (keys in the ingestion store), bound as `batch_<table>`. */
  batch: Partial<Record<SourceTableName, string[]>>;
  /**
   * Current state per source table, bound as `current_<table>`: its location (a key prefix in the
   * processed store), or its segments — the compacted base, then the deltas of later batches — which
   * the engine reads as one table through `latestVersionsSql` (transform/current-state.ts).
   */
  current: Partial<Record<SourceTableName, CurrentLocation>>;
  /**
   * Current state per source table before this batch, bound as `previous_<table>` the same way:
   * what the generated current-state merge reads beside `batch_<table>`.
   */
  previous?: Partial<Record<SourceTableName, CurrentLocation>>;
  /**
   * Published locations of each star table (key prefixes in the processed store), bound under the
   * table's own name: one prefix for a dimension, one per published batch for a fact.
   */
  star: Partial<Record<string, string[]>>;
  /**
   * The version of a star table that this batch replaces (key prefix in the processed store, or
   * several read as their union), bound as `previous_<star table>`: what the dimension change sets
   * compare against.
   */
  previousStar?: Partial<Record<string, string | readonly string[]>>;
  /**
   * A by-key dimension kept as base + deltas (transform/dimension-by-key.ts): its change sets since
   * the base, oldest first. `<star table>` is then read as the latest version of each key over
   * `star[name]` (the base, one prefix) and these (`latestStarSql`), not as their union; likewise
   * `previousStarDeltas` with `previousStar[name]`.
   */
  starDeltas?: Partial<Record<string, readonly string[]>>;
  previousStarDeltas?: Partial<Record<string, readonly string[]>>;
  /** Every published raw file per source table, bound as `raw_<table>` (for `totes query`). */
  raw?: Partial<Record<SourceTableName, string[]>>;
  /**
   * Bind each fact as analysts see it in Athena (aws/fact-view.ts): its columns and lineage, then
   * `created_month` (the month of `created_date`, 'YYYY-MM') and `batch_id` (the batch that wrote the
   * version). Set by `lakeBindings` for ad-hoc queries; the transform reads the facts as stored.
   */
  analystFacts?: boolean;
}

export interface WriteTarget {
  /** Output table name (a star table or `current_<source table>`). */
  table: string;
  /** Key prefix in the processed store to write under, ending with '/'. */
  prefix: string;
  /** Columns of the output, in order, with DuckDB/Trino-neutral types from the contracts. */
  columns: readonly { name: string; trinoType: string }[];
  /** Lineage written into every row's `_batch_id` and `_sql_hash` columns, when the table has them. */
  batchId: string;
  sqlHash: string;
  /** Source of the statement, for error messages (e.g. `sql/transform/dim_staff.sql`). */
  origin: string;
  /**
   * Hive partition columns of the output, written as `<col>=<value>/` folders under `prefix`
   * (optional; facts are written one batch per prefix and need none). Engines with a limit on
   * partitions per query (Athena: 100) split the write.
   */
  partitionedBy?: readonly string[];
  /**
   * Columns the output is best written in the order of, where the engine can (optional): the local
   * engine keeps a COPY's ORDER BY; Trino's and Athena's CTAS and INSERT write in no order, and no
   * reader relies on any. A dimension written in key order has row groups of narrow key ranges, so a
   * lookup of a batch's few keys (data-tests.ts, dimension-by-key.ts) skips the others by their
   * statistics instead of reading a 1.4M-row dim_transaction whole.
   */
  sortedBy?: readonly string[];
}

/**
 * A statement an engine would send, rendered without sending it (`totes compile`,
 * core/transform/compile.ts): the same text the engine's write or query sends, from the same
 * generator, and its prepared-statement parameters (`$1`…) described.
 */
export interface RenderedStatement {
  /** What the engine sends it for, e.g. `CTAS: writes the output` or `COPY: writes … as Parquet under …`. */
  role: string;
  sql: string;
  /** The parameters `$1`… in order, as text: a value (`'…'`), a list of files, or what the engine binds there (`<…>`). */
  params?: string[];
}

/**
 * Renders what an engine would send for a write or a query, running nothing and writing nothing:
 * each engine's `engine.ts` has one beside its {@link QueryEngine}, sharing its statement generator
 * (`relations.ts`). A renderer may list the stores (which files a relation reads); a prefix it
 * rendered a write to counts as written from then on, as it would be after the write.
 */
export interface StatementRenderer {
  readonly name: QueryEngine['name'];
  renderWrite(select: string, bindings: RelationBindings, target: WriteTarget): Promise<RenderedStatement[]>;
  renderQuery(sql: string, bindings?: RelationBindings): Promise<RenderedStatement[]>;
}

export interface QueryStats {
  rows: number;
  /** Bytes the engine scanned (Athena bills these); 0 where unknown (an engine without {@link QueryEngine.measuresScan}). */
  bytesScanned: number;
  elapsedMs: number;
  files: string[];
  /**
   * The statements this write sent the engine, one after another (absent: 1). Athena and Trino
   * send a query listing the partitions and one statement per 100 partitions for a partitioned
   * write (`planWrite`, engines/trino/relations.ts); what an engine does besides (DuckDB's parse of
   * a batch's raw files, Trino's DDL registering tables, which Athena does through Glue) is not counted.
   */
  statements?: number;
}

/** The rows of a query, and the bytes the engine scanned for them. */
export interface QueryAnswer {
  rows: Record<string, unknown>[];
  bytesScanned: number;
}
