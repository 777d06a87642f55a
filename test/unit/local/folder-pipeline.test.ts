import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Catalog } from '../../../functions/core/ports/catalog';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { DatabaseLocator } from '../../../functions/core/ports/source';
import { FolderCatalog } from '../../../functions/local/folder-catalog';
import { openFolderPipeline, REPO_ROOT, unusedPort } from '../../../functions/local/folder-pipeline';

/** The one folder-backed context of the CLI and the tests, and the one stand-in for a port left out. */

const lake = () => mkdtempSync(path.join(tmpdir(), 'totes-folder-pipeline-'));

describe('openFolderPipeline', () => {
  it('builds the folder lake: two stores, the folder catalog, DuckDB, the repository as sqlRoot; databases left out fail on use', async () => {
    const dir = lake();
    const { ctx, stores, close } = await openFolderPipeline({ lake: dir });
    try {
      expect([stores.ingestion.root, stores.processed.root]).toEqual([path.join(dir, 'ingestion'), path.join(dir, 'processed')]);
      expect(ctx.ingestion).toBe(stores.ingestion);
      expect(ctx.catalog).toBeInstanceOf(FolderCatalog);
      expect(ctx.engine.name).toBe('duckdb');
      expect([ctx.sqlRoot, ctx.warehouseSchema]).toEqual([REPO_ROOT, 'public']);
      expect(() => ctx.source.url()).toThrow('Port "source" is not used by this pipeline, yet its url was asked for');
      expect(() => ctx.warehouse.url()).toThrow(/Port "warehouse"/);
    } finally {
      await close();
    }
  });

  it('takes any field instead; closes what it opened (factories, URLs, its own engine), never what it was given', async () => {
    const closed: string[] = [];
    const given = unusedPort<QueryEngine>('engine', { name: 'athena', close: async () => void closed.push('given engine') });
    const made = (name: string): DatabaseLocator => ({ description: name, url: async () => `postgres://${name}`, close: async () => void closed.push(name) });
    const borrowed = made('borrowed');
    const now = () => new Date('2026-01-01T00:00:00Z');
    const a = await openFolderPipeline({ lake: lake(), engine: given, source: () => made('opened source'), warehouse: borrowed, warehouseSchema: 'mart', now, compaction: { maxDeltas: 0 } });
    expect(a.ctx.engine).toBe(given);
    expect(a.ctx).toMatchObject({ warehouseSchema: 'mart', now, compaction: { maxDeltas: 0 } });
    expect(await a.ctx.source.url()).toBe('postgres://opened source');
    await a.close();
    expect(closed).toEqual(['opened source']);

    const b = await openFolderPipeline({ lake: lake(), engine: () => given });
    await b.close();
    expect(closed).toEqual(['opened source', 'given engine']);
  });

  it('closes what it had opened when a later port fails to open', async () => {
    const closed: string[] = [];
    const engine = unusedPort<QueryEngine>('engine', { close: async () => void closed.push('engine') });
    const failing = openFolderPipeline({ lake: lake(), engine: () => engine, source: 'postgres://u@127.0.0.1:1/db', warehouse: () => Promise.reject(new Error('no warehouse')) });
    await expect(failing).rejects.toThrow('no warehouse');
    expect(closed).toEqual(['engine']);
  });

  it('two pipelines over one ingestion folder, each with its own processed folder', async () => {
    const dir = lake();
    const { stores, close } = await openFolderPipeline({ lake: { ingestion: path.join(dir, 'ingestion'), processed: path.join(dir, 'processed-b') }, engine: unusedPort<QueryEngine>('engine') });
    expect(stores.processed.root).toBe(path.join(dir, 'processed-b'));
    await close();
  });
});

describe('unusedPort', () => {
  it('throws on use, naming the port and what was asked; close, await and inspection pass', async () => {
    const catalog = unusedPort<Catalog>('catalog');
    expect(() => catalog.location('dim_staff')).toThrow('Port "catalog" is not used by this pipeline, yet its location was asked for: give the pipeline a catalog');
    expect(await Promise.resolve(catalog)).toBe(catalog);
    expect(String(unusedPort<DatabaseLocator>('source').description)).toBe('source (not used)');
    await expect(unusedPort<DatabaseLocator>('source').close()).resolves.toBeUndefined();
  });
});
