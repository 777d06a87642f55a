import path from 'node:path';
import { ConnectionPool } from '../core/connection-pool';
import type { PipelineContext } from '../core/pipeline-context';
import { silentLog } from '../core/ports/log';
import type { QueryEngine } from '../core/ports/query-engine';
import type { DatabaseLocator } from '../core/ports/source';
import { DuckDbEngine } from '../engines/duckdb/engine';
import { urlLocator } from './embedded-postgres';
import { FolderCatalog } from './folder-catalog';
import { FolderObjectStore } from './folder-object-store';

/** Repository root: where `sql/` lives. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The two buckets of a folder lake. */
export interface FolderStores {
  ingestion: FolderObjectStore;
  processed: FolderObjectStore;
}

/** Builds an engine over the lake's two folder stores; what it returns is closed by `close()`. */
export type EngineFactory = (stores: FolderStores) => QueryEngine | Promise<QueryEngine>;

/** A database given as a URL (a plain locator), a locator (the caller's to close), or a factory (opened here, closed by `close()`). */
export type LocatorOption = string | DatabaseLocator | (() => DatabaseLocator | Promise<DatabaseLocator>);

export interface FolderPipelineOptions extends Partial<Omit<PipelineContext, 'engine' | 'source' | 'warehouse'>> {
  /**
   * The lake folder, whose `ingestion/` and `processed/` are the two buckets; or the two bucket
   * folders themselves (two pipelines over one ingestion folder, each with its own processed one).
   */
  lake: string | { ingestion: string; processed: string };
  /** Default: DuckDB over the two folder stores. A factory builds one over them; a value is used as is. */
  engine?: QueryEngine | EngineFactory;
  /** totesys. Default: a port that fails on use (`unusedPort`). */
  source?: LocatorOption;
  /** The warehouse. Default: a port that fails on use (`unusedPort`). */
  warehouse?: LocatorOption;
  /**
   * Keep the stages' PostgreSQL connections between runs (core/connection-pool.ts), closed by
   * `close()` before the databases: for whatever runs cycles again and again in this process.
   * Default false: each stage closes its own, as a test that drops its database after a stage needs.
   */
  holdConnections?: boolean;
}

export interface FolderPipeline {
  ctx: PipelineContext;
  /** The lake's folder stores: those the engine and the catalog use, and the context's unless `ingestion` or `processed` replaced them. */
  stores: FolderStores;
  /** Closes what this call opened (an engine or locator it built), in reverse order; never what it was given. */
  close(): Promise<void>;
}

/**
 * The pipeline over a folder lake: `FolderObjectStore`s for the two buckets, the `FolderCatalog`,
 * an engine (DuckDB unless told otherwise), the databases, a log (silent), the clock and `sqlRoot`
 * (the repository). Every field of the context can be given instead: a value replaces the default
 * as is (an `ingestion` or `processed` wrapper that injects faults replaces the stores the stages
 * use; the engine and catalog keep reading the folders). The CLI's local pipeline
 * (`cli/local-context.ts`) and the tests build their contexts here.
 */
export async function openFolderPipeline(options: FolderPipelineOptions): Promise<FolderPipeline> {
  const { lake, engine, source, warehouse, holdConnections, ...fields } = options;
  const folders = typeof lake === 'string' ? { ingestion: path.join(lake, 'ingestion'), processed: path.join(lake, 'processed') } : lake;
  const stores: FolderStores = { ingestion: new FolderObjectStore(folders.ingestion), processed: new FolderObjectStore(folders.processed) };
  const opened: { close(): Promise<unknown> }[] = [];
  const close = async () => {
    for (const port of opened.splice(0).reverse()) await port.close().catch(() => undefined);
  };
  const own = <T extends { close(): Promise<unknown> }>(port: T): T => (opened.push(port), port);
  const locator = async (name: string, option: LocatorOption | undefined): Promise<DatabaseLocator> => {
    if (option === undefined) return unusedPort<DatabaseLocator>(name);
    if (typeof option === 'string') return own(urlLocator(option));
    if (typeof option === 'function') return own(await option());
    return option;
  };
  try {
    const ctx: PipelineContext = {
      ...stores,
      catalog: new FolderCatalog(stores.processed),
      engine: typeof engine === 'function' ? own(await engine(stores)) : (engine ?? own(await DuckDbEngine.create(stores.ingestion, stores.processed))),
      source: await locator('source', source),
      warehouse: await locator('warehouse', warehouse),
      warehouseSchema: 'public',
      log: silentLog,
      now: () => new Date(),
      sqlRoot: REPO_ROOT,
      // Opened after the databases, so closed before them (their embedded servers stop last).
      ...(holdConnections ? { connections: own(new ConnectionPool()) } : {}),
    };
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) Object.assign(ctx, { [key]: value });
    return { ctx, stores, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The one stand-in for a port a pipeline does not use: any use throws, naming the port and what
 * was asked of it. `close()`, `await` and inspection pass (a port never used is no error); `fields`
 * answer as given (an engine's `name`, a `close` a test observes).
 */
export function unusedPort<T extends object>(port: string, fields: Partial<NoInfer<T>> = {}): T {
  return new Proxy(fields as T, {
    get(target, prop) {
      if (prop in target) return (target as Record<string | symbol, unknown>)[prop];
      if (prop === 'then' || typeof prop === 'symbol' || prop === 'toJSON') return undefined;
      if (prop === 'close') return async () => undefined;
      if (prop === 'description' || prop === 'name') return `${port} (not used)`;
      throw new Error(`Port "${port}" is not used by this pipeline, yet its ${String(prop)} was asked for: give the pipeline a ${port}`);
    },
  });
}
