import {
  BatchDeletePartitionCommand,
  CreatePartitionCommand,
  DeleteTableCommand,
  CreateTableCommand,
  GetPartitionsCommand,
  GetTableCommand,
  UpdateTableCommand,
  type GlueClient,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { byKeyDimensions, versionsTableName } from '../core/contract/star-tables';
import { factTablePrefix, parseDimensionChangesPrefix, parseDimensionPrefix } from '../core/lake/lake-layout';
import type { Catalog, TableLocation } from '../core/ports/catalog';
import { errorName } from './retry-with-backoff';
import { isProcessedTable, PARAM_BATCH_ID, PARAM_SQL_HASH, processedTableInput } from './glue-table-input';

export interface GlueCatalogOptions {
  /** Glue database of the star and current-state tables. */
  database: string;
  /** Processed bucket: table locations are `s3://<bucket>/<prefix>`. */
  bucket: string;
  /** Partitions per GetPartitions page (Glue's default when unset). */
  pageSize?: number;
}

/**
 * The Glue Data Catalog as the pipeline's catalog: the cloud twin of `local/folder-catalog.ts`.
 *
 * A rebuilt table (dimension, current state) is published by one UpdateTable that moves its
 * location and records the batch and SQL hash in its parameters: Athena readers see the old
 * version or the new one, and the old files stay where they were. A fact batch is one partition
 * `batch_id=<id>`, created idempotently. cdktf deploys the tables; one that is missing is created
 * from the contracts, with every table and column described.
 *
 * A by-key dimension kept as base + deltas (core/transform/dimension-by-key.ts) cannot be one Glue
 * location: its segments are the partitions of `<dim>_versions` (the base under `star/`, each change
 * set under `changes/`), and `<dim>` is the Athena view merging them (aws/athena-current-views.ts).
 * Repointing it adds the partitions it lacks, then drops those no longer listed (an older base and its
 * deltas). At every instant the partitions hold every listed segment, plus perhaps older ones whose
 * keys all reappear in a newer segment (rows never leave a dimension), so the view — the greatest
 * `_batch_id` per key — reads the old version or the new one.
 */
export class GlueCatalog implements Catalog {
  constructor(
    private readonly client: GlueClient,
    private readonly options: GlueCatalogOptions,
  ) {}

  async location(table: string): Promise<TableLocation | undefined> {
    if (isByKeyDimension(table)) return this.versionsLocation(table);
    const found = await this.getTable(table);
    const batchId = found?.Parameters?.[PARAM_BATCH_ID];
    const location = found?.StorageDescriptor?.Location;
    // A table cdktf created but no batch has published yet has no batch parameter.
    if (!found || !batchId || !location) return undefined;
    return { prefix: this.prefixOf(location, table), batchId, sqlHash: found.Parameters?.[PARAM_SQL_HASH] ?? '' };
  }

  async repoint(table: string, location: TableLocation): Promise<void> {
    if (isByKeyDimension(table)) return this.publishVersions(table, location);
    const uri = this.uriOf(location.prefix);
    const existing = await this.getTable(table);
    if (!existing) {
      const created = await this.createTable(processedTableInput(table, uri, location));
      if (created) return;
    }
    const current = existing ?? (await this.getTable(table));
    if (!current) throw new Error(`Glue table ${this.options.database}.${table} vanished while being repointed; run the transform again`);
    const input = toTableInput(current);
    input.StorageDescriptor = { ...input.StorageDescriptor, Location: uri };
    input.Parameters = { ...input.Parameters, [PARAM_BATCH_ID]: location.batchId, [PARAM_SQL_HASH]: location.sqlHash };
    if (!input.Description && isProcessedTable(table)) input.Description = processedTableInput(table, uri).Description;
    try {
      // SkipArchive: Glue keeps at most 100,000 versions of a table and we repoint every five minutes;
      // the history lives in the transform manifests instead.
      await this.client.send(new UpdateTableCommand({ DatabaseName: this.options.database, TableInput: input, SkipArchive: true }));
    } catch (err) {
      throw glueError(err, `repoint ${this.options.database}.${table} to ${uri} for batch ${location.batchId}`);
    }
  }

  async addPartition(table: string, location: TableLocation): Promise<void> {
    let found = await this.getTable(table);
    if (!found) {
      await this.createTable(processedTableInput(table, this.uriOf(factTablePrefix(table))));
      found = await this.getTable(table);
      if (!found) throw new Error(`Glue table ${this.options.database}.${table} could not be created`);
    }
    if ((found.PartitionKeys ?? []).length !== 1) {
      throw new Error(`Glue table ${this.options.database}.${table} is not partitioned by batch; a fact table needs exactly one partition key`);
    }
    const storage = { ...found.StorageDescriptor, Location: this.uriOf(location.prefix) };
    try {
      await this.client.send(
        new CreatePartitionCommand({
          DatabaseName: this.options.database,
          TableName: table,
          PartitionInput: {
            Values: [location.batchId],
            StorageDescriptor: storage,
            Parameters: { [PARAM_BATCH_ID]: location.batchId, [PARAM_SQL_HASH]: location.sqlHash },
          },
        }),
      );
    } catch (err) {
      // Publishing the same batch again (a replayed event) changes nothing.
      if (errorName(err) === 'AlreadyExistsException') return;
      throw glueError(err, `add partition batch_id=${location.batchId} to ${this.options.database}.${table}`);
    }
  }

  async partitions(table: string): Promise<TableLocation[]> {
    const out: TableLocation[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new GetPartitionsCommand({ DatabaseName: this.options.database, TableName: table, NextToken: token, MaxResults: this.options.pageSize }),
        );
      } catch (err) {
        if (errorName(err) === 'EntityNotFoundException') return [];
        throw glueError(err, `list partitions of ${this.options.database}.${table}`);
      }
      for (const p of page.Partitions ?? []) {
        const batchId = p.Values?.[0];
        const location = p.StorageDescriptor?.Location;
        if (!batchId || !location) continue;
        out.push({ prefix: this.prefixOf(location, table), batchId, sqlHash: p.Parameters?.[PARAM_SQL_HASH] ?? '' });
      }
      token = page.NextToken || undefined;
    } while (token);
    // Batch ids start with their zero-padded sequence number: string order is batch order.
    return out.sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
  }

  /** A by-key dimension's base and deltas as `<dim>_versions` partitions: the new ones added, then the old ones dropped. */
  private async publishVersions(table: string, location: TableLocation): Promise<void> {
    const versions = versionsTableName(table);
    const segments = [
      { prefix: location.prefix, batchId: parseDimensionPrefix(location.prefix)?.batchId ?? location.batchId },
      ...(location.deltas ?? []).map((prefix) => ({ prefix, batchId: parseDimensionChangesPrefix(prefix).batchId })),
    ];
    // One listing, then only the partitions that are missing (one a batch) and those superseded.
    const existing = await this.partitions(versions);
    const have = new Set(existing.map((p) => `${p.batchId} ${p.prefix}`));
    for (const segment of segments) {
      if (!have.has(`${segment.batchId} ${segment.prefix}`)) await this.addPartition(versions, { ...segment, sqlHash: location.sqlHash });
    }
    const wanted = new Set(segments.map((s) => s.batchId));
    const stale = existing.filter((p) => !wanted.has(p.batchId));
    for (let i = 0; i < stale.length; i += 25) {
      const chunk = stale.slice(i, i + 25);
      try {
        const out = await this.client.send(
          new BatchDeletePartitionCommand({ DatabaseName: this.options.database, TableName: versions, PartitionsToDelete: chunk.map((p) => ({ Values: [p.batchId] })) }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.ErrorDetail?.ErrorCode !== 'EntityNotFoundException');
        if (failed.length) throw new Error(failed.map((e) => `${e.PartitionValues?.join('/')}: ${e.ErrorDetail?.ErrorCode} ${e.ErrorDetail?.ErrorMessage}`).join('; '));
      } catch (err) {
        throw glueError(err, `drop ${chunk.length} superseded partition(s) of ${this.options.database}.${versions}`);
      }
    }
  }

  /** A by-key dimension's location read back from `<dim>_versions`: the newest base and the change sets after it. */
  private async versionsLocation(table: string): Promise<TableLocation | undefined> {
    const partitions = await this.partitions(versionsTableName(table));
    const base = partitions.filter((p) => parseDimensionPrefix(p.prefix)).at(-1);
    if (!base) return undefined;
    const deltas = partitions.filter((p) => p.batchId > base.batchId && !parseDimensionPrefix(p.prefix));
    const newest = deltas.at(-1) ?? base;
    return { prefix: base.prefix, batchId: newest.batchId, sqlHash: newest.sqlHash, ...(deltas.length ? { deltas: deltas.map((d) => d.prefix) } : {}) };
  }

  /** Drops a table (a view replacing it is created next); nothing when it is already gone. */
  async deleteTable(table: string): Promise<void> {
    try {
      await this.client.send(new DeleteTableCommand({ DatabaseName: this.options.database, Name: table }));
    } catch (err) {
      if (errorName(err) === 'EntityNotFoundException') return;
      throw glueError(err, `drop table ${this.options.database}.${table}`);
    }
  }

  /** The table, or undefined when Glue does not have it. */
  async getTable(table: string): Promise<Table | undefined> {
    try {
      return (await this.client.send(new GetTableCommand({ DatabaseName: this.options.database, Name: table }))).Table;
    } catch (err) {
      if (errorName(err) === 'EntityNotFoundException') return undefined;
      throw glueError(err, `read table ${this.options.database}.${table}`);
    }
  }

  /** The Glue database this catalog manages. */
  get database(): string {
    return this.options.database;
  }

  /**
   * Rewrites an existing table's definition in one UpdateTable: `change` gets the table as
   * UpdateTable takes it and returns the new input (used to describe the Athena views).
   */
  async updateTable(table: string, change: (input: TableInput) => TableInput): Promise<void> {
    const current = await this.getTable(table);
    if (!current) throw new Error(`Glue table ${this.options.database}.${table} does not exist, so it cannot be updated`);
    try {
      await this.client.send(new UpdateTableCommand({ DatabaseName: this.options.database, TableInput: change(toTableInput(current)), SkipArchive: true }));
    } catch (err) {
      throw glueError(err, `update table ${this.options.database}.${table}`);
    }
  }

  /** Creates a table; false when another run created it first. */
  private async createTable(input: TableInput): Promise<boolean> {
    try {
      await this.client.send(new CreateTableCommand({ DatabaseName: this.options.database, TableInput: input }));
      return true;
    } catch (err) {
      if (errorName(err) === 'AlreadyExistsException') return false;
      throw glueError(err, `create table ${this.options.database}.${input.Name}`);
    }
  }

  private uriOf(prefix: string): string {
    if (!prefix.endsWith('/') || prefix.startsWith('/')) throw new Error(`Table prefix "${prefix}" must be a relative key prefix ending with '/'`);
    return `s3://${this.options.bucket}/${prefix}`;
  }

  private prefixOf(location: string, table: string): string {
    const root = `s3://${this.options.bucket}/`;
    if (!location.startsWith(root)) {
      throw new Error(`Glue table ${this.options.database}.${table} points at ${location}, outside the processed bucket ${root}; fix the table location or the configuration`);
    }
    const prefix = location.slice(root.length);
    return prefix.endsWith('/') ? prefix : `${prefix}/`;
  }
}

function isByKeyDimension(table: string): boolean {
  return byKeyDimensions().some((d) => d.name === table);
}

/** The writable part of a Table, as UpdateTable takes it back. */
export function toTableInput(table: Table): TableInput {
  return {
    Name: table.Name,
    Description: table.Description,
    Owner: table.Owner,
    Retention: table.Retention,
    StorageDescriptor: table.StorageDescriptor,
    PartitionKeys: table.PartitionKeys,
    TableType: table.TableType,
    Parameters: table.Parameters,
    ViewOriginalText: table.ViewOriginalText,
    ViewExpandedText: table.ViewExpandedText,
    TargetTable: table.TargetTable,
  };
}

function glueError(err: unknown, doing: string): Error {
  const e = err as Error;
  return new Error(`Glue could not ${doing}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`, { cause: err });
}
