import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { PipelineContext } from '../core/pipeline-context';
import type { Log } from '../core/ports/log';
import type { QueryEngine } from '../core/ports/query-engine';
import type { DatabaseLocator } from '../core/ports/source';
import { DuckDbEngine } from '../engines/duckdb/engine';
import { startEmbeddedPostgres, urlLocator } from '../local/embedded-postgres';
import { FolderCatalog } from '../local/folder-catalog';
import { FolderObjectStore } from '../local/folder-object-store';
import { createTrinoEngine } from '../engines/trino/engine';
import type { CommonOptions } from './cli-options';

/** Repository root: where `sql/` lives. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const LAKE_MARKER = '.totes-lake';

/**
 * Makes sure `dir` is a Totes Lake folder: new or empty folders become one (with a marker file);
 * a folder holding anything else is refused, so a mistyped --lake never writes into someone's files.
 */
export async function openLakeFolder(dir: string): Promise<void> {
  let entries: string[] = [];
  try {
    const stat = await fs.stat(dir);
    if (!stat.isDirectory()) throw new Error(`--lake ${dir} is a file, not a folder; give a new or empty folder, or an existing lake`);
    entries = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (entries.length > 0 && !entries.includes(LAKE_MARKER)) {
    throw new Error(`--lake ${dir} is not a Totes Lake folder (it holds other files and no ${LAKE_MARKER} marker); give a new or empty folder, or an existing lake`);
  }
  await fs.mkdir(dir, { recursive: true });
  if (!entries.includes(LAKE_MARKER)) await fs.writeFile(path.join(dir, LAKE_MARKER), 'This folder is a Totes Lake: ingestion/ and processed/ are its two buckets.\n');
}

/** Where embedded databases live when no URL is given: beside the lake folder. */
export function embeddedDir(options: CommonOptions, name: 'totesys' | 'warehouse'): string {
  return path.join(path.dirname(options.lake), name);
}

export async function sourceLocator(options: CommonOptions): Promise<DatabaseLocator> {
  return options.sourceUrl ? urlLocator(options.sourceUrl) : startEmbeddedPostgres(embeddedDir(options, 'totesys'), 'totesys');
}

export async function warehouseLocator(options: CommonOptions): Promise<DatabaseLocator> {
  return options.warehouseUrl ? urlLocator(options.warehouseUrl) : startEmbeddedPostgres(embeddedDir(options, 'warehouse'), 'warehouse');
}

export interface LocalPipeline {
  ctx: PipelineContext;
  close(): Promise<void>;
}

/** Builds every adapter for a local run, once, from the CLI options. */
export async function openLocalPipeline(options: CommonOptions, log: Log): Promise<LocalPipeline> {
  await openLakeFolder(options.lake);
  const ingestion = new FolderObjectStore(path.join(options.lake, 'ingestion'));
  const processed = new FolderObjectStore(path.join(options.lake, 'processed'));
  const opened: { close(): Promise<void> }[] = [];
  try {
    const engine = await createEngine(options, ingestion, processed);
    opened.push(engine);
    const source = await sourceLocator(options);
    opened.push(source);
    const warehouse = await warehouseLocator(options);
    opened.push(warehouse);
    const ctx: PipelineContext = {
      ingestion,
      processed,
      engine,
      catalog: new FolderCatalog(processed),
      source,
      warehouse,
      warehouseSchema: options.warehouseSchema,
      log,
      now: () => new Date(),
      sqlRoot: REPO_ROOT,
    };
    return { ctx, close: () => closeAll(opened) };
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

async function createEngine(options: CommonOptions, ingestion: FolderObjectStore, processed: FolderObjectStore): Promise<QueryEngine> {
  if (options.engine === 'trino') {
    return createTrinoEngine({ url: options.trinoUrl!, ingestion, processed });
  }
  return DuckDbEngine.create(ingestion, processed);
}

async function closeAll(resources: { close(): Promise<void> }[]): Promise<void> {
  for (const r of resources.reverse()) await r.close().catch(() => undefined);
}
