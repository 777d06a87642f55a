import { z } from 'zod';
import { catalogKey } from '../core/lake/lake-layout';
import type { Catalog, TableLocation } from '../core/ports/catalog';
import { ObjectNotFoundError, getText, type ObjectStore } from '../core/ports/object-store';

/**
 * The local catalog: one small JSON pointer per table at `catalog/<table>.json` in the processed
 * store, the local twin of `aws/glue-catalog.ts`.
 *
 * A rebuilt table's pointer names its one location; a fact's names every published partition.
 * Each change rewrites the whole pointer through the store's write-then-rename, so a reader sees
 * the old pointer or the new one, never half of one. The DuckDB engine reads the locations through
 * `lakeBindings` (functions/core/transform/lake-bindings.ts).
 */
export class FolderCatalog implements Catalog {
  constructor(private readonly processed: ObjectStore) {}

  async location(table: string): Promise<TableLocation | undefined> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'partitioned') {
      throw new Error(`Catalog table ${table} is partitioned (a fact); ask for its partitions, not one location`);
    }
    return pointer?.location;
  }

  async repoint(table: string, location: TableLocation): Promise<void> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'partitioned') {
      throw new Error(`Cannot repoint ${table}: it is a partitioned (fact) table in ${this.describe(table)}`);
    }
    await this.write(table, { kind: 'located', table, location: TableLocation.parse(location) });
  }

  async addPartition(table: string, location: TableLocation): Promise<void> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'located') {
      throw new Error(`Cannot add a partition to ${table}: it is a rebuilt (repointed) table in ${this.describe(table)}`);
    }
    const partitions = pointer?.partitions ?? [];
    const existing = partitions.find((p) => p.batchId === location.batchId);
    if (existing && existing.prefix === location.prefix && existing.sqlHash === location.sqlHash) return;
    const next = [...partitions.filter((p) => p.batchId !== location.batchId), TableLocation.parse(location)];
    next.sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
    await this.write(table, { kind: 'partitioned', table, partitions: next });
  }

  async replacePartitions(table: string, locations: TableLocation[]): Promise<void> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'located') {
      throw new Error(`Cannot replace the partitions of ${table}: it is a rebuilt (repointed) table in ${this.describe(table)}`);
    }
    const next = locations.map((l) => TableLocation.parse(l));
    if (new Set(next.map((l) => l.batchId)).size !== next.length) throw new Error(`Cannot replace the partitions of ${table}: a batch is named twice`);
    next.sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
    await this.write(table, { kind: 'partitioned', table, partitions: next });
  }

  async partitions(table: string): Promise<TableLocation[]> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'located') {
      throw new Error(`Catalog table ${table} is not partitioned (a rebuilt table); ask for its location`);
    }
    return pointer?.partitions ?? [];
  }

  private async read(table: string): Promise<Pointer | undefined> {
    let text: string;
    try {
      text = await getText(this.processed, catalogKey(table));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    const parsed = Pointer.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new Error(`Catalog pointer ${this.describe(table)} is damaged (${z.prettifyError(parsed.error)}); re-run the transform of the latest batch to rewrite it`);
    }
    return parsed.data;
  }

  private async write(table: string, pointer: Pointer): Promise<void> {
    await this.processed.put(catalogKey(table), `${JSON.stringify(pointer, null, 2)}\n`, { contentType: 'application/json' });
  }

  private describe(table: string): string {
    return `${catalogKey(table)} in ${this.processed.name}`;
  }
}

const TableLocation = z.object({ prefix: z.string().endsWith('/'), batchId: z.string(), sqlHash: z.string(), deltas: z.array(z.string().endsWith('/')).optional() });

const Pointer = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('located'), table: z.string(), location: TableLocation }),
  z.object({ kind: z.literal('partitioned'), table: z.string(), partitions: z.array(TableLocation) }),
]);
type Pointer = z.infer<typeof Pointer>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
