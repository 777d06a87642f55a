import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SOURCE_TABLES, type SourceTableName } from '../../../functions/core/contract/source-tables';
import { extractManifestKey, newBatchId, rawKey } from '../../../functions/core/lake/lake-layout';
import type { ExtractManifest } from '../../../functions/core/lake/manifests';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import type { Catalog } from '../../../functions/core/ports/catalog';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { openFolderPipeline, REPO_ROOT, type FolderPipeline, type FolderStores } from '../../../functions/local/folder-pipeline';
import { DuckDbEngine } from '../../../functions/engines/duckdb/engine';

/**
 * A tiny raw lake written by hand, the way the extract writes it: one gzip NDJSON file per table
 * with rows in the batch (every contract column, timestamps as 'YYYY-MM-DD HH:MM:SS.mmm' text,
 * numerics as JSON numbers, `_batch_id`), then the extract manifest, last.
 */

export type RawRow = Record<string, string | number | boolean | null>;
export type RawBatch = Partial<Record<SourceTableName, RawRow[]>>;

export { REPO_ROOT };

export class RawLake {
  readonly ingestion: FolderObjectStore;
  readonly processed: FolderObjectStore;
  readonly engine: QueryEngine;
  readonly catalog: Catalog;
  readonly ctx: PipelineContext;
  private readonly batchIds = new Map<number, string>();
  private reader?: DuckDBConnection;

  /** The transform's pipeline over the lake folder (DuckDB; no databases). */
  private constructor(
    readonly dir: string,
    private readonly pipeline: FolderPipeline,
  ) {
    this.ctx = pipeline.ctx;
    this.ingestion = pipeline.stores.ingestion;
    this.processed = pipeline.stores.processed;
    this.engine = this.ctx.engine;
    this.catalog = this.ctx.catalog;
  }

  /** `duckdbConnections`: statements the DuckDB engine runs at once (its default unless given; 1 runs them in the order sent). */
  static async create(options: { duckdbConnections?: number } = {}): Promise<RawLake> {
    const dir = await mkdtemp(path.join(tmpdir(), 'totes-transform-'));
    const { duckdbConnections: connections } = options;
    const engine = connections === undefined ? undefined : (stores: FolderStores) => DuckDbEngine.create(stores.ingestion, stores.processed, { connections });
    return new RawLake(dir, await openFolderPipeline({ lake: dir, now: () => new Date('2025-01-01T00:00:00.000Z'), ...(engine ? { engine } : {}) }));
  }

  batchId(seq: number): string {
    let id = this.batchIds.get(seq);
    if (!id) {
      id = newBatchId(seq, new Date(Date.UTC(2025, 0, 1, 0, seq * 5, 0)), 'abcd');
      this.batchIds.set(seq, id);
    }
    return id;
  }

  /** Writes the batch's raw files and then its extract manifest. */
  async writeBatch(seq: number, batch: RawBatch): Promise<ExtractManifest> {
    const batchId = this.batchId(seq);
    const tables = {} as ExtractManifest['tables'];
    for (const table of SOURCE_TABLES) {
      const rows = batch[table.name] ?? [];
      const files = [];
      if (rows.length) {
        const key = rawKey(table.name, batchId);
        const body = gzipSync(rows.map((row) => `${JSON.stringify({ ...completeRow(table.name, row), _batch_id: batchId })}\n`).join(''));
        await this.ingestion.put(key, body);
        files.push({ key, rows: rows.length, bytes: body.length });
      }
      const last = rows.at(-1);
      tables[table.name] = {
        files,
        rows: rows.length,
        window: { from: null, upperBound: '2025-01-01 00:00:00.000' },
        cursor: last ? { lastUpdated: String(last.last_updated), id: Number(last[table.primaryKey]) } : null,
        maxLastUpdated: last ? String(last.last_updated) : null,
      };
    }
    const manifest: ExtractManifest = {
      kind: 'extract',
      version: 1,
      batchId,
      seq,
      previousBatchId: seq > 1 ? this.batchId(seq - 1) : null,
      startedAt: '2025-01-01T00:00:00.000Z',
      finishedAt: '2025-01-01T00:00:01.000Z',
      snapshotAt: '2025-01-01 00:00:00.000',
      tables,
    };
    await this.ingestion.put(extractManifestKey(seq), JSON.stringify(manifest, null, 2), { ifNoneMatch: true });
    return manifest;
  }

  /** Rows of the Parquet files under a processed-store prefix, read back with a separate DuckDB. */
  async readParquet(prefix: string, orderBy: string): Promise<Record<string, unknown>[]> {
    this.reader ??= await DuckDBInstance.create(':memory:').then((db) => db.connect());
    const glob = path.join(this.processed.pathOf(prefix), '*.parquet');
    const result = await this.reader.runAndReadAll(`SELECT * FROM read_parquet($1, hive_partitioning = false) ORDER BY ${orderBy}`, [glob]);
    return result.getRowObjectsJson() as Record<string, unknown>[];
  }

  async close(): Promise<void> {
    this.reader?.closeSync();
    await this.pipeline.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function completeRow(table: SourceTableName, row: RawRow): RawRow {
  const columns = SOURCE_TABLES.find((t) => t.name === table)!.columns.map((c) => c.name);
  const missing = columns.filter((c) => !(c in row));
  if (missing.length) throw new Error(`Fixture row of ${table} lacks ${missing.join(', ')}`);
  return Object.fromEntries(columns.map((c) => [c, row[c]]));
}
