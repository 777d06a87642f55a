import type { ConnectionPool } from './connection-pool';
import type { Catalog } from './ports/catalog';
import type { CompactionPolicy } from './transform/current-compaction';
import type { FactCompactionPolicy } from './transform/fact-compaction';
import type { Log } from './ports/log';
import type { ObjectStore } from './ports/object-store';
import type { QueryEngine } from './ports/query-engine';
import type { DatabaseLocator } from './ports/source';

/**
 * Everything a stage of the pipeline needs, built once at the edge (a Lambda handler or the CLI).
 * The core never constructs an adapter itself.
 */
export interface PipelineContext {
  /** Immutable bucket of raw batches and their manifests. */
  ingestion: ObjectStore;
  /** Star schema, current-state tables, transform manifests, run history. */
  processed: ObjectStore;
  engine: QueryEngine;
  catalog: Catalog;
  source: DatabaseLocator;
  warehouse: DatabaseLocator;
  /** PostgreSQL schema of the warehouse tables (default `public`). */
  warehouseSchema: string;
  log: Log;
  /** Clock, injectable for tests. */
  now: () => Date;
  /** Directory containing `sql/` (the repository root, or the Lambda bundle root). */
  sqlRoot: string;
  /**
   * PostgreSQL connections kept between runs (connection-pool.ts), given by whatever runs stages
   * again and again in one process and closed with it. Without it every stage opens its own and
   * closes them.
   */
  connections?: ConnectionPool;
  /** When the transform compacts current states (transform/current-compaction.ts); defaults apply to what is left out. */
  compaction?: Partial<CompactionPolicy>;
  /** When the transform compacts the facts into their month layout (transform/fact-compaction.ts); defaults apply to what is left out. */
  factCompaction?: Partial<FactCompactionPolicy>;
}
