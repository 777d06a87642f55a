import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Log } from '../core/ports/log';
import type { DatabaseLocator } from '../core/ports/source';
import { createTrinoEngine } from '../engines/trino/engine';
import { startEmbeddedPostgres, urlLocator } from '../local/embedded-postgres';
import { openFolderPipeline, REPO_ROOT, type FolderPipeline } from '../local/folder-pipeline';
import type { CommonOptions } from './cli-options';

/** Repository root: where `sql/` lives. */
export { REPO_ROOT };

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

export type LocalPipeline = FolderPipeline;

/** Builds every adapter for a local run, once, from the CLI options: the folder pipeline of `--lake`. */
export async function openLocalPipeline(options: CommonOptions, log: Log): Promise<LocalPipeline> {
  await openLakeFolder(options.lake);
  return openFolderPipeline({
    lake: options.lake,
    // DuckDB unless --engine trino.
    engine: options.engine === 'trino' ? (stores) => createTrinoEngine({ url: options.trinoUrl!, ...stores }) : undefined,
    source: () => sourceLocator(options),
    warehouse: () => warehouseLocator(options),
    warehouseSchema: options.warehouseSchema,
    // Connections kept between the cycles of one process (`totes run --every`), closed with the
    // pipeline; never PGlite's (core/connection-pool.ts).
    holdConnections: true,
    log,
  });
}
