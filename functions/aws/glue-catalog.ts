import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  CreatePartitionCommand,
  DeleteTableCommand,
  CreateTableCommand,
  GetPartitionsCommand,
  GetTableCommand,
  GetTablesCommand,
  UpdateTableCommand,
  type PartitionInput,
  type GlueClient,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { byKeyDimensions, versionsTableName } from '../core/contract/star-tables';
import { factTablePrefix, parseDimensionChangesPrefix, parseDimensionPrefix } from '../core/lake/lake-layout';
import type { Catalog, TableLocation } from '../core/ports/catalog';
import type { Log } from '../core/ports/log';
import { sha256 } from '../core/transform/sql-files';
import { errorName } from './retry-with-backoff';
import {
  ATHENA_DATA_CATALOG,
  backfillBatchesTableName,
  baseBatchesTableName,
  batchesTableInput,
  factViewInput,
  factViewState,
  isFact,
  isFactDataTable,
  monthsTableInput,
  monthsTableName,
  type FactViewState,
} from './fact-view';
import { isProcessedTable, PARAM_BATCH_ID, PARAM_SQL_HASH, processedTableInput } from './glue-table-input';

export interface GlueCatalogOptions {
  /** Glue database of the star and current-state tables. */
  database: string;
  /** Processed bucket: table locations are `s3://<bucket>/<prefix>`. */
  bucket: string;
  /** Partitions per GetPartitions page (Glue's default when unset). */
  pageSize?: number;
  /** The data catalog the facts' views name (Athena's `awsdatacatalog` when unset). */
  viewCatalog?: string;
  /** Told of a clean-up that failed after a publish (the publish stands; the next one cleans up). */
  log?: Pick<Log, 'warn'>;
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
 *
 * A fact is an Athena view over its compacted months and its batches (aws/fact-view.ts): the view's
 * parameters name the months table `<fact>_months_<through>`, the batch it holds everything up to,
 * and the batches table (`<fact>_batches`, which the stack creates, or a backfill's). A batch is a
 * partition of the batches table. A compaction ({@link publishCompaction}) or a backfill
 * ({@link replacePartitions}) builds its new table(s) unseen — no reader names them yet —, then
 * switches the view with one UpdateTable (guarded by the view's VersionId), then drops what the view
 * no longer reads: readers see the old set of partitions or the new one, each version once. A crash
 * before the switch leaves the view as it was (the unnamed table is dropped by the next attempt); a
 * crash after it leaves garbage the next publish cleans up ({@link cleanUpFact}).
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
    if (isFact(table)) throw new Error(`Cannot repoint ${table}: it is a fact (a view over its months and batches); publish its batches with addPartition`);
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
    if (!isFact(table)) return this.addBatchPartition(table, location, () => processedTableInput(table, this.uriOf(factTablePrefix(table))));
    if (location.month !== undefined) throw new Error(`Cannot add compacted month ${location.month} of ${table} as a batch's partition; a compaction publishes it (publishCompaction)`);
    const state = await this.ensureFactView(table);
    // A batch a compaction already holds (a re-run of a batch published before its manifest was lost): nothing to add.
    if (state.through !== undefined && location.batchId <= state.through) return;
    await this.addBatchPartition(state.batchesTable, location, () => batchesTableInput(state.batchesTable, table, this.uriOf(factTablePrefix(table))));
  }

  /** One partition `batch_id=<batch>` of a table partitioned by batch, created idempotently (the table too, from `create`, if missing). */
  private async addBatchPartition(table: string, location: TableLocation, create: () => TableInput): Promise<void> {
    let found = await this.getTable(table);
    if (!found) {
      await this.createTable(create());
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
    if (!isFact(table)) return sortedByBatch(await this.listPartitions(table));
    const view = await this.getTable(table);
    const state = factViewState(view);
    if (!state) {
      if (view && view.TableType !== 'VIRTUAL_VIEW') return sortedByBatch(await this.listPartitions(table)); // a fact table from before the view (ensureFactView migrates it)
      return [];
    }
    return this.factPartitions(state);
  }

  /** What a fact's view reads: the months of its months table (by month), then the batches after them (oldest first). */
  private async factPartitions(state: FactViewState): Promise<TableLocation[]> {
    const months = state.monthsTable ? await this.listPartitions(state.monthsTable, true) : [];
    const batches = (await this.listPartitions(state.batchesTable)).filter((b) => state.through === undefined || b.batchId > state.through);
    return [...months.sort((a, b) => (a.month! < b.month! ? -1 : a.month! > b.month! ? 1 : 0)), ...sortedByBatch(batches)];
  }

  /**
   * Publishes a compaction of a fact in one UpdateTable of its view: a new months table
   * `<fact>_months_<through>` holds the months kept and those rewritten (`to`), and the view reads it
   * and the batches after `through`. Refused, changing nothing readers see, when `from` is not
   * exactly published or a batch up to `through` is published but not compacted (the view would hide it).
   */
  async publishCompaction(table: string, from: readonly TableLocation[], to: readonly TableLocation[]): Promise<void> {
    if (!isFact(table)) throw new Error(`Cannot publish a compaction of ${table}: only a fact is compacted`);
    if (to.some((t) => t.month === undefined)) throw new Error(`Cannot publish the compaction of ${table}: every partition it publishes must be a month`);
    if (!to.length) throw new Error(`Cannot publish the compaction of ${table}: it publishes no month`);
    const view = await this.getTable(table);
    const state = factViewState(view);
    if (!view || !state) throw new Error(`Cannot publish a compaction of ${table}: ${this.options.database}.${table} is not the fact's view (no batch was published through this catalog); nothing was changed`);
    const published = await this.factPartitions(state);
    const identity = (l: TableLocation): string => `${l.month ?? ''}|${l.batchId}|${l.prefix}`;
    const have = new Set(published.map(identity));
    const missing = from.filter((f) => !have.has(identity(f)));
    if (missing.length) {
      throw new Error(
        `Cannot publish the compaction of ${table}: ${missing.length} partition(s) it replaces are no longer published (${missing.slice(0, 3).map((m) => m.prefix).join(', ')}); another run changed ${this.options.database}.${table} meanwhile. Nothing was changed; the next run plans the compaction again`,
      );
    }
    const replaced = new Set(from.map(identity));
    const through = to.map((t) => t.batchId).reduce((a, b) => (a > b ? a : b));
    const hidden = published.filter((p) => p.month === undefined && p.batchId <= through && !replaced.has(identity(p)));
    if (hidden.length) {
      throw new Error(`Cannot publish the compaction of ${table} through ${through}: batch(es) ${hidden.slice(0, 3).map((h) => h.batchId).join(', ')} are published but not compacted, and the view would hide them. Nothing was changed`);
    }
    const months = [...published.filter((p) => p.month !== undefined && !replaced.has(identity(p))), ...to];
    if (new Set(months.map((m) => m.month)).size !== months.length) throw new Error(`Cannot publish the compaction of ${table}: a month would be published twice (a rewritten month must replace its old location)`);
    const monthsTable = monthsTableName(table, through);
    if (monthsTable === state.monthsTable) throw new Error(`Cannot publish the compaction of ${table}: the view already reads ${monthsTable}; nothing was changed`);
    await this.buildTable(monthsTableInput(monthsTable, table, this.uriOf(factTablePrefix(table)), through), months.map((m) => [m.month!, m]));
    const next: FactViewState = { batchesTable: state.batchesTable, monthsTable, through };
    await this.switchView(table, view, next, `publish the compaction of ${table} through ${through}`);
    await this.cleanUpFact(table, next);
  }

  /**
   * Replaces every partition of a fact (a backfill's publish) in one UpdateTable of its view: a new
   * batches table `<fact>_batches_<hash12>` (and months table, if `locations` has months) holds
   * them, the view is switched to it, and later batches are added to it.
   */
  async replacePartitions(table: string, locations: TableLocation[]): Promise<void> {
    if (!isFact(table)) throw new Error(`Cannot replace the partitions of ${table}: only a fact's partitions are replaced`);
    const seen = new Set<string>();
    const twice = locations.find((l) => seen.size === seen.add(l.month !== undefined ? `month ${l.month}` : `batch ${l.batchId}`).size);
    if (twice) throw new Error(`Cannot replace the partitions of ${table}: a ${twice.month !== undefined ? 'month' : 'batch'} is named twice (${twice.month ?? twice.batchId})`);
    await this.ensureFactView(table);
    const view = await this.getTable(table);
    const state = factViewState(view);
    if (!view || !state) throw new Error(`Glue view ${this.options.database}.${table} vanished while its partitions were being replaced; run the backfill again`);
    const months = locations.filter((l) => l.month !== undefined);
    const batches = locations.filter((l) => l.month === undefined);
    const through = months.length ? months.map((m) => m.batchId).reduce((a, b) => (a > b ? a : b)) : undefined;
    const hidden = through === undefined ? [] : batches.filter((b) => b.batchId <= through);
    if (hidden.length) throw new Error(`Cannot replace the partitions of ${table}: batch ${hidden[0].batchId} is not after the months (through ${through}), so the view would hide it`);
    const hash = sha256(JSON.stringify(locations.map((l) => [l.month ?? '', l.batchId, l.prefix, l.sqlHash]).sort())).slice(0, 12);
    const batchesTable = backfillBatchesTableName(table, hash);
    // The same partitions published already (a re-run of the publish): nothing to change.
    if (state.batchesTable === batchesTable) return;
    const monthsTable = through === undefined ? undefined : `${monthsTableName(table, through)}_${hash}`;
    await this.buildTable(batchesTableInput(batchesTable, table, this.uriOf(factTablePrefix(table))), batches.map((b) => [b.batchId, b]));
    if (monthsTable) await this.buildTable(monthsTableInput(monthsTable, table, this.uriOf(factTablePrefix(table)), through!), months.map((m) => [m.month!, m]));
    const next: FactViewState = { batchesTable, ...(monthsTable ? { monthsTable, through } : {}) };
    await this.switchView(table, view, next, `replace the partitions of ${table}`);
    await this.cleanUpFact(table, next);
  }

  /**
   * The fact's view, created on the first batch: over `<fact>_batches` (created here if the stack
   * has not). A fact table from before the view (partitioned by batch) is moved: its partitions are
   * copied to `<fact>_batches`, then it is dropped and the view created in its place (readers find
   * no table for that moment, never a mix).
   */
  async ensureFactView(fact: string): Promise<FactViewState> {
    const existing = await this.getTable(fact);
    const state = factViewState(existing);
    if (state) return state;
    if (existing?.TableType === 'VIRTUAL_VIEW') throw new Error(`Glue view ${this.options.database}.${fact} does not name the tables it reads (parameter totes.batches_table); drop it and run the transform again`);
    const batchesTable = baseBatchesTableName(fact);
    const batchesInput = batchesTableInput(batchesTable, fact, this.uriOf(factTablePrefix(fact)));
    await this.createTable(batchesInput);
    if (existing) {
      const legacy = await this.listPartitions(fact);
      await this.addPartitions(batchesTable, legacy.map((p) => this.partitionInput(p.batchId, p, batchesInput)), true);
      await this.deleteTable(fact);
    }
    const initial: FactViewState = { batchesTable };
    const created = await this.createTable(factViewInput(this.options.database, this.options.viewCatalog ?? ATHENA_DATA_CATALOG, fact, initial));
    if (created) return initial;
    const raced = factViewState(await this.getTable(fact));
    if (!raced) throw new Error(`Glue table ${this.options.database}.${fact} was created by someone else and is not the fact's view; drop it and run the transform again`);
    return raced;
  }

  /** Creates a table no reader names yet, with its partitions (value, location): one left by a crashed attempt is dropped first. */
  private async buildTable(input: TableInput, locations: [string, TableLocation][]): Promise<void> {
    const partitions = locations.map(([value, location]) => this.partitionInput(value, location, input));
    await this.deleteTable(input.Name!);
    try {
      await this.client.send(new CreateTableCommand({ DatabaseName: this.options.database, TableInput: input }));
    } catch (err) {
      throw glueError(err, `create table ${this.options.database}.${input.Name}`);
    }
    await this.addPartitions(input.Name!, partitions, false);
  }

  /** BatchCreatePartition, at most 100 a call (Glue's limit); with `idempotent`, partitions that exist are fine. */
  private async addPartitions(table: string, partitions: PartitionInput[], idempotent: boolean): Promise<void> {
    for (let i = 0; i < partitions.length; i += 100) {
      const chunk = partitions.slice(i, i + 100);
      let errors;
      try {
        errors = (await this.client.send(new BatchCreatePartitionCommand({ DatabaseName: this.options.database, TableName: table, PartitionInputList: chunk }))).Errors ?? [];
      } catch (err) {
        throw glueError(err, `add ${chunk.length} partition(s) to ${this.options.database}.${table}`);
      }
      const failed = errors.filter((e) => !(idempotent && e.ErrorDetail?.ErrorCode === 'AlreadyExistsException'));
      if (failed.length) {
        throw new Error(`Glue could not add ${failed.length} partition(s) to ${this.options.database}.${table}: ${failed.slice(0, 3).map((e) => `${e.PartitionValues?.join('/')}: ${e.ErrorDetail?.ErrorCode} ${e.ErrorDetail?.ErrorMessage}`).join('; ')}`);
      }
    }
  }

  /** A partition `<value>` at the location's prefix, recording the batch and SQL that built it. */
  private partitionInput(value: string, location: TableLocation, table: TableInput): PartitionInput {
    return {
      Values: [value],
      // The table's storage (columns, Parquet SerDe) at the partition's own location, as addPartition does.
      StorageDescriptor: { ...table.StorageDescriptor, Location: this.uriOf(location.prefix) },
      Parameters: { [PARAM_BATCH_ID]: location.batchId, [PARAM_SQL_HASH]: location.sqlHash },
    };
  }

  /** The one UpdateTable readers see: the view over `next`, only if the view is still the version read (`VersionId`). */
  private async switchView(fact: string, view: Table, next: FactViewState, doing: string): Promise<void> {
    const input = factViewInput(this.options.database, this.options.viewCatalog ?? ATHENA_DATA_CATALOG, fact, next);
    try {
      await this.client.send(new UpdateTableCommand({ DatabaseName: this.options.database, TableInput: input, SkipArchive: true, VersionId: view.VersionId }));
    } catch (err) {
      throw glueError(err, `${doing} (switching the view ${this.options.database}.${fact}; nothing readers see was changed)`);
    }
  }

  /**
   * After a switch: drops the fact's tables the view no longer reads (months tables, a backfill's
   * batches tables; the stack's `<fact>_batches` is emptied instead), and the batches table's
   * partitions the months now hold. Failures are reported, never thrown: the publish stands, and the
   * next publish cleans up what is left.
   */
  async cleanUpFact(fact: string, state: FactViewState): Promise<void> {
    try {
      const named = new Set([state.batchesTable, state.monthsTable].filter((t): t is string => t !== undefined));
      for (const name of await this.tableNames(`${fact}_.*`)) {
        if (!isFactDataTable(fact, name) || named.has(name)) continue;
        if (name === baseBatchesTableName(fact)) await this.deletePartitions(name, (await this.listPartitions(name)).map((p) => p.batchId));
        else await this.deleteTable(name);
      }
      if (state.through !== undefined) {
        const through = state.through;
        await this.deletePartitions(state.batchesTable, (await this.listPartitions(state.batchesTable)).filter((p) => p.batchId <= through).map((p) => p.batchId));
      }
    } catch (err) {
      this.options.log?.warn(`Glue: the view ${this.options.database}.${fact} is switched, but cleaning up what it no longer reads failed (${(err as Error).message}); the next publish tries again`, { table: fact });
    }
  }

  /** Names of the tables matching a Glue expression (a regular expression, `fact_x_.*`). */
  private async tableNames(expression: string): Promise<string[]> {
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(new GetTablesCommand({ DatabaseName: this.options.database, Expression: expression, NextToken }));
      for (const t of page.TableList ?? []) if (t.Name) names.push(t.Name);
      NextToken = page.NextToken || undefined;
    } while (NextToken);
    return names;
  }

  /** BatchDeletePartition, at most 25 a call (Glue's limit); a partition already gone is fine. */
  private async deletePartitions(table: string, values: readonly string[]): Promise<void> {
    for (let i = 0; i < values.length; i += 25) {
      const chunk = values.slice(i, i + 25);
      try {
        const out = await this.client.send(
          new BatchDeletePartitionCommand({ DatabaseName: this.options.database, TableName: table, PartitionsToDelete: chunk.map((v) => ({ Values: [v] })) }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.ErrorDetail?.ErrorCode !== 'EntityNotFoundException');
        if (failed.length) throw new Error(failed.map((e) => `${e.PartitionValues?.join('/')}: ${e.ErrorDetail?.ErrorCode} ${e.ErrorDetail?.ErrorMessage}`).join('; '));
      } catch (err) {
        throw glueError(err, `drop ${chunk.length} partition(s) of ${this.options.database}.${table}`);
      }
    }
  }

  /** A table's partitions as locations: batch partitions by value, or (`months`) months with the batch they hold through. */
  private async listPartitions(table: string, months = false): Promise<TableLocation[]> {
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
        const value = p.Values?.[0];
        const location = p.StorageDescriptor?.Location;
        if (!value || !location) continue;
        const sqlHash = p.Parameters?.[PARAM_SQL_HASH] ?? '';
        if (months) out.push({ prefix: this.prefixOf(location, table), batchId: p.Parameters?.[PARAM_BATCH_ID] ?? '', sqlHash, month: value });
        else out.push({ prefix: this.prefixOf(location, table), batchId: value, sqlHash });
      }
      token = page.NextToken || undefined;
    } while (token);
    return out;
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

/** Batch ids start with their zero-padded sequence number: string order is batch order. */
function sortedByBatch(partitions: TableLocation[]): TableLocation[] {
  return partitions.sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
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
