/**
 * Fixtures of the load tests: a processed store in a temp folder holding star-table Parquet files
 * written by DuckDB in exactly the transform's shape (contract columns in order, then `_batch_id`
 * and `_sql_hash`; times as VARCHAR, dates as DATE, numerics DECIMAL(10,2); zstd), transform
 * manifests that point at them, and a warehouse database to load into (test/support/test-postgres.ts).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { STAR_TABLE_NAMES, starDuckdbType, starTable, type StarTableName } from '../../../functions/core/contract/star-tables';
import { SOURCE_TABLE_NAMES } from '../../../functions/core/contract/source-tables';
import { currentPrefix, dimensionPrefix, factBatchPrefix, newBatchId, transformManifestKey } from '../../../functions/core/lake/lake-layout';
import type { TransformManifest, TransformOutput } from '../../../functions/core/lake/manifests';
import type { PipelineContext } from '../../../functions/core/pipeline-context';
import { urlLocator } from '../../../functions/local/embedded-postgres';
import type { FolderObjectStore } from '../../../functions/local/folder-object-store';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import type { Catalog } from '../../../functions/core/ports/catalog';
import { openFolderPipeline, REPO_ROOT, unusedPort } from '../../../functions/local/folder-pipeline';
import { testDatabase, type TestDatabase } from '../../support/test-postgres';

export type TextRow = Record<string, string | null>;
export type StarBatch = Partial<Record<StarTableName, TextRow[]>>;

export { REPO_ROOT };

export type { TestDatabase as WarehouseDb } from '../../support/test-postgres';

/**
 * A fresh, empty warehouse database: a real PostgreSQL server where one can run (TOTES_TEST_PG_URL,
 * or one started by test/support/pg-server.sh), else embedded PGlite; `kind: 'pglite'` forces PGlite.
 */
export function warehouseDatabase(kind?: 'server' | 'pglite'): Promise<TestDatabase> {
  return testDatabase('load', kind ? { kind } : {});
}

/** A temp processed store plus the context the load stage needs. */
export class LoadFixture {
  private constructor(
    readonly dir: string,
    readonly processed: FolderObjectStore,
    /** The load's pipeline over the lake folder: no engine, catalog or source. */
    private readonly pipeline: PipelineContext,
    private readonly duck: DuckDBConnection,
    private readonly instance: DuckDBInstance,
  ) {}

  static async create(): Promise<LoadFixture> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'totes-load-'));
    const instance = await DuckDBInstance.create(':memory:');
    const { ctx, stores } = await openFolderPipeline({ lake: dir, engine: unusedPort<QueryEngine>('engine'), catalog: unusedPort<Catalog>('catalog'), now: () => new Date('2025-01-01T00:00:00Z') });
    return new LoadFixture(dir, stores.processed, ctx, await instance.connect(), instance);
  }

  context(warehouseUrl: string, warehouseSchema = 'public'): PipelineContext {
    return { ...this.pipeline, warehouse: urlLocator(warehouseUrl), warehouseSchema };
  }

  batchId(seq: number): string {
    return newBatchId(seq, new Date(Date.UTC(2025, 0, 1, 0, seq * 5)), 'ab12');
  }

  /** Writes one star table of a batch as Parquet, the way the transform does, from text rows. */
  async writeTable(table: StarTableName, seq: number, rows: TextRow[]): Promise<TransformOutput> {
    const star = starTable(table);
    const batchId = this.batchId(seq);
    const stage = `stage_${table}`;
    const columns = [...star.columns.map((c) => ({ name: c.name, type: starDuckdbType(c.type) })), { name: '_batch_id', type: 'VARCHAR' }, { name: '_sql_hash', type: 'VARCHAR' }];
    await this.duck.run(`CREATE OR REPLACE TEMP TABLE ${stage} (${columns.map((c) => `${c.name} ${c.type}`).join(', ')})`);
    const insert = `INSERT INTO ${stage} VALUES (${columns.map((c, i) => `$${i + 1}::${c.type}`).join(', ')})`;
    for (const row of rows) {
      await this.duck.run(insert, [...star.columns.map((c) => row[c.name] ?? null), batchId, `hash-${table}`]);
    }
    return this.copyOut(table, seq, stage, rows.length);
  }

  /** Writes a table from a DuckDB SELECT over the contract columns (for volume: `range(n)`). */
  async writeTableFromSelect(table: StarTableName, seq: number, select: string): Promise<TransformOutput> {
    const star = starTable(table);
    const batchId = this.batchId(seq);
    const stage = `stage_${table}`;
    const casts = star.columns.map((c) => `${c.name}::${starDuckdbType(c.type)} AS ${c.name}`).join(', ');
    await this.duck.run(`CREATE OR REPLACE TEMP TABLE ${stage} AS SELECT ${casts}, '${batchId}' AS _batch_id, 'hash-${table}' AS _sql_hash FROM (${select})`);
    const count = await this.duck.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${stage}`);
    return this.copyOut(table, seq, stage, Number(count.getRowObjects()[0].n));
  }

  private async copyOut(table: StarTableName, seq: number, stage: string, rows: number): Promise<TransformOutput> {
    const star = starTable(table);
    const batchId = this.batchId(seq);
    const prefix = star.kind === 'fact' ? factBatchPrefix(table, batchId) : dimensionPrefix(table, batchId);
    const key = `${prefix}part-00000.parquet`;
    const file = this.processed.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await this.duck.run(`COPY ${stage} TO '${file}' (FORMAT parquet, COMPRESSION zstd)`);
    return { kind: star.kind, prefix, files: [key], rows, origin: `sql/transform/${table}.sql`, sqlHash: `hash-${table}`, bytesScanned: 0, elapsedMs: 1 };
  }

  /** Writes every table of `batch` and then its transform manifest (last, as the transform does). */
  async writeBatch(seq: number, batch: StarBatch): Promise<TransformManifest> {
    const star: Partial<TransformManifest['star']> = {};
    for (const [table, rows] of Object.entries(batch) as [StarTableName, TextRow[]][]) star[table] = await this.writeTable(table, seq, rows);
    return this.writeManifest(seq, star);
  }

  /**
   * Writes the transform manifest of batch `seq`. Tables absent from `written` get an empty output
   * (no files, 0 rows), as a batch that changed nothing there would record.
   */
  async writeManifest(seq: number, written: Partial<TransformManifest['star']>, deletions?: TransformManifest['deletions']): Promise<TransformManifest> {
    const batchId = this.batchId(seq);
    const empty = (table: StarTableName): TransformOutput => {
      const kind = starTable(table).kind;
      const prefix = kind === 'fact' ? factBatchPrefix(table, batchId) : dimensionPrefix(table, batchId);
      return { kind, prefix, files: [], rows: 0, origin: `sql/transform/${table}.sql`, sqlHash: `hash-${table}`, bytesScanned: 0, elapsedMs: 0 };
    };
    const star = Object.fromEntries(STAR_TABLE_NAMES.map((t) => [t, written[t] ?? empty(t)])) as TransformManifest['star'];
    const current = Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, currentPrefix(t, batchId)])) as TransformManifest['current'];
    const currentOutputs = Object.fromEntries(
      SOURCE_TABLE_NAMES.map((t): [string, TransformOutput] => [t, { kind: 'current', prefix: currentPrefix(t, batchId), files: [], rows: 0, origin: 'generated', sqlHash: 'generated', bytesScanned: 0, elapsedMs: 0 }]),
    ) as TransformManifest['currentOutputs'];
    const manifest: TransformManifest = {
      kind: 'transform',
      version: 1,
      batchId: this.batchId(seq),
      seq,
      engine: 'duckdb',
      startedAt: '2025-01-01T00:00:00.000Z',
      finishedAt: '2025-01-01T00:00:01.000Z',
      current,
      star,
      currentOutputs,
      ...(deletions ? { deletions } : {}),
    };
    await this.processed.put(transformManifestKey(seq), JSON.stringify(manifest, null, 2), { ifNoneMatch: true });
    return manifest;
  }

  async close(): Promise<void> {
    this.duck.closeSync();
    this.instance.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A small but complete first batch: every star table, nullable columns exercised. */
export function firstBatch(): StarBatch {
  return {
    dim_date: [
      { date_id: '2024-12-30', year: '2024', month: '12', day: '30', day_of_week: '1', day_name: 'Monday', month_name: 'December', quarter: '4' },
      { date_id: '2025-01-01', year: '2025', month: '1', day: '1', day_of_week: '3', day_name: 'Wednesday', month_name: 'January', quarter: '1' },
      { date_id: '2025-01-10', year: '2025', month: '1', day: '10', day_of_week: '5', day_name: 'Friday', month_name: 'January', quarter: '1' },
    ],
    dim_staff: [
      { staff_id: '1', first_name: 'Jeremie', last_name: 'Franey', department_name: 'Purchasing', location: 'Manchester', email_address: 'jeremie.franey@terrifictotes.com' },
      { staff_id: '2', first_name: 'Deron', last_name: 'Beier', department_name: 'Facilities', location: null, email_address: 'deron.beier@terrifictotes.com' },
    ],
    dim_location: [
      { location_id: '1', address_line_1: '6826 Herzog Via', address_line_2: null, district: 'Avon', city: 'New Patienceburgh', postal_code: '28441', country: 'Turkey', phone: '1803 637401' },
    ],
    dim_design: [{ design_id: '8', design_name: 'Wooden', file_location: '/usr', file_name: 'wooden-20220717-npgz.json' }],
    dim_currency: [
      { currency_id: '1', currency_code: 'GBP', currency_name: 'Pound Sterling' },
      { currency_id: '2', currency_code: 'XXX', currency_name: null },
    ],
    dim_counterparty: [
      {
        counterparty_id: '1', counterparty_legal_name: 'Fahey and Sons', counterparty_legal_address_line_1: '605 Haskell Trafficway',
        counterparty_legal_address_line_2: 'Axel Freeway', counterparty_legal_district: null, counterparty_legal_city: 'East Bobbie',
        counterparty_legal_postal_code: '88253-4257', counterparty_legal_country: 'Austria', counterparty_legal_phone_number: '9687 937447',
      },
    ],
    dim_transaction: [
      { transaction_id: '1', transaction_type: 'SALE', sales_order_id: '1', purchase_order_id: null },
      { transaction_id: '2', transaction_type: 'PURCHASE', sales_order_id: null, purchase_order_id: '1' },
    ],
    dim_payment_type: [
      { payment_type_id: '1', payment_type_name: 'SALES_RECEIPT' },
      { payment_type_id: '3', payment_type_name: 'PURCHASE_PAYMENT' },
    ],
    fact_sales_order: [
      salesOrder('1', '2025-01-01', '09:15:00.100', '7', '3.10'),
      salesOrder('2', '2025-01-01', '09:16:30.000', '12', '0.05'),
    ],
    fact_purchase_order: [
      {
        purchase_order_id: '1', created_date: '2025-01-01', created_time: '10:00:00.000', last_updated_date: '2025-01-01', last_updated_time: '10:00:00.000',
        staff_id: '1', counterparty_id: '1', item_code: 'ZDOI5EA', item_quantity: '371', item_unit_price: '361.39', currency_id: '1',
        agreed_delivery_date: '2025-01-10', agreed_payment_date: '2024-12-30', agreed_delivery_location_id: '1',
      },
    ],
    fact_payment: [payment('1', '2025-01-01', '11:00:00.000', 'false'), payment('2', '2025-01-01', '11:00:00.500', 'false')],
  };
}

export function salesOrder(id: string, updatedDate: string, updatedTime: string, units: string, price: string): TextRow {
  return {
    sales_order_id: id, created_date: '2025-01-01', created_time: '09:00:00.000', last_updated_date: updatedDate, last_updated_time: updatedTime,
    sales_staff_id: '2', counterparty_id: '1', units_sold: units, unit_price: price, currency_id: '1', design_id: '8',
    agreed_payment_date: '2025-01-10', agreed_delivery_date: '2024-12-30', agreed_delivery_location_id: '1',
  };
}

export function payment(id: string, updatedDate: string, updatedTime: string, paid: string): TextRow {
  return {
    payment_id: id, created_date: '2025-01-01', created_time: '11:00:00.000', last_updated_date: updatedDate, last_updated_time: updatedTime,
    transaction_id: id, counterparty_id: '1', payment_amount: '-1234567.89', currency_id: '1', payment_type_id: '1', paid, payment_date: '2025-01-10',
  };
}

/** Rows of a warehouse table without the fact's surrogate key (its values depend on load order). */
export function withoutSurrogate(table: StarTableName, rows: Record<string, string | null>[]): TextRow[] {
  const surrogate = starTable(table).surrogateKey;
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== surrogate)));
}
