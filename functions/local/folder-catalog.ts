import { z } from 'zod';
import { catalogKey } from '../core/lake/lake-layout';
import type { Catalog, TableLocation } from '../core/ports/catalog';
import { ObjectNotFoundError, getText, type ObjectStore } from '../core/ports/object-store';

/**
 * The local catalog: one small JSON pointer per table at `catalog/<table>.json` in the processed
 * store, the local twin of `aws/glue-catalog.ts`.
 *
 * A rebuilt table's pointer names its one location; a fact's names every published partition: its
 * compacted months (`month`, transform/fact-compaction.ts) and the batches not compacted yet.
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
    if (location.month !== undefined) throw new Error(`Cannot add compacted month ${location.month} of ${table} as a batch's partition; a compaction publishes it (publishCompaction)`);
    const partitions = pointer?.partitions ?? [];
    // A batch a compaction already holds (a re-run of a batch published before its manifest was lost): nothing to add.
    if (partitions.some((p) => p.month !== undefined && p.batchId >= location.batchId)) return;
    const existing = partitions.find((p) => p.month === undefined && p.batchId === location.batchId);
    if (existing && existing.prefix === location.prefix && existing.sqlHash === location.sqlHash) return;
    const next = [...partitions.filter((p) => p.month !== undefined || p.batchId !== location.batchId), TableLocation.parse(location)];
    await this.write(table, { kind: 'partitioned', table, partitions: ordered(next) });
  }

  async replacePartitions(table: string, locations: TableLocation[]): Promise<void> {
    const pointer = await this.read(table);
    if (pointer?.kind === 'located') {
      throw new Error(`Cannot replace the partitions of ${table}: it is a rebuilt (repointed) table in ${this.describe(table)}`);
    }
    const next = locations.map((l) => TableLocation.parse(l));
    const seen = new Set<string>();
    const twice = next.find((l) => seen.size === seen.add(partitionName(l)).size);
    if (twice) throw new Error(`Cannot replace the partitions of ${table}: a ${twice.month !== undefined ? 'month' : 'batch'} is named twice (${partitionName(twice)})`);
    await this.write(table, { kind: 'partitioned', table, partitions: ordered(next) });
  }

  async publishCompaction(table: string, from: readonly TableLocation[], to: readonly TableLocation[]): Promise<void> {
    const pointer = await this.read(table);
    if (pointer?.kind !== 'partitioned') throw new Error(`Cannot publish a compaction of ${table}: it has no partitions in ${this.describe(table)}`);
    const identity = (l: TableLocation): string => `${l.month ?? ''}|${l.batchId}|${l.prefix}`;
    const published = new Set(pointer.partitions.map(identity));
    const replaced = new Set(from.map(identity));
    const missing = from.filter((f) => !published.has(identity(f)));
    if (missing.length) {
      throw new Error(
        `Cannot publish the compaction of ${table}: ${missing.length} partition(s) it replaces are no longer published (${missing.slice(0, 3).map((m) => m.prefix).join(', ')}); another run changed ${this.describe(table)} meanwhile. Nothing was changed; the next run plans the compaction again`,
      );
    }
    if (to.some((t) => t.month === undefined)) throw new Error(`Cannot publish the compaction of ${table}: every partition it publishes must be a month`);
    const kept = pointer.partitions.filter((p) => !replaced.has(identity(p)));
    const next = [...kept, ...to.map((t) => TableLocation.parse(t))];
    if (new Set(next.map(partitionName)).size !== next.length) throw new Error(`Cannot publish the compaction of ${table}: a month would be published twice (a rewritten month must replace its old location)`);
    await this.write(table, { kind: 'partitioned', table, partitions: ordered(next) });
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

const TableLocation = z.object({
  prefix: z.string().endsWith('/'),
  batchId: z.string(),
  sqlHash: z.string(),
  deltas: z.array(z.string().endsWith('/')).optional(),
  month: z.string().regex(/^\d{4}-\d{2}$/).optional(),
});

/** What names a fact's partition: its month (a compacted month) or its batch. */
function partitionName(location: TableLocation): string {
  return location.month !== undefined ? `month ${location.month}` : `batch ${location.batchId}`;
}

/** Compacted months first (by month), then batches (oldest first). */
function ordered(partitions: TableLocation[]): TableLocation[] {
  const key = (p: TableLocation): string => (p.month !== undefined ? `0${p.month}` : `1${p.batchId}`);
  return [...partitions].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

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
