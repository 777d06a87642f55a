import pg from 'pg';
import { SOURCE_TABLES, type SourceTable, type SourceTableName } from '../contract/source-tables';
import { starTable } from '../contract/star-tables';
import { deletedKeys } from '../extract/deletions';
import { rescuedByNextRun } from '../extract/late-commits';
import { currentLocations, latestExtractManifest, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import type { ExtractManifest, SourceSnapshot } from '../lake/manifests';
import { qualifiedTable } from '../load/load-statements';
import { freshnessOf, type Freshness } from '../operate/freshness';
import { formatAge } from '../operate/pipeline-status';
import { readExtractHeartbeat } from '../lake/extract-heartbeat';
import type { PipelineContext } from '../pipeline-context';

/**
 * `totes verify`: reconciles totesys, the lake and the warehouse, table by table, read-only.
 *
 * Everything is compared as of the newest batch in the warehouse's load ledger (seq N): the lake
 * as that batch's transform manifest and the extract manifests 1..N describe it, the source only
 * for rows whose `last_updated` is before N's window bound — rows written since are the next
 * batch's business and are left out on every side. Per source table:
 *  - row versions: every raw version (pk, last_updated) in the lake exactly once; for the three
 *    fact tables the warehouse's fact versions equal the lake's;
 *  - key sets: source keys = lake current keys = warehouse keys (dimension ids, fact current
 *    versions), after removing rows marked deleted (lake `deletions/`, warehouse `deleted_rows`),
 *    and rows deleted in the source must be marked;
 *  - current versions: the lake's and warehouse fact's latest `last_updated` per key equals the
 *    source's, and the sums of money columns over current versions agree.
 * Cost: one pass over each table's keys on each side; fine for CI and for production tables of
 * a few million rows (it reads no more than the key, last_updated and money columns).
 */

export interface TableReport {
  table: SourceTableName;
  warehouseTable: string | null;
  sourceKeys: number;
  lakeKeys: number;
  warehouseKeys: number | null;
  lakeVersions: number;
  warehouseVersions: number | null;
  deleted: number;
  moneySums?: { column: string; source: string; lake: string; warehouse: string };
  differences: string[];
  /** What is worth knowing and not a difference (e.g. versions sharing a stamp). */
  notes?: string[];
}

export interface VerifyReport {
  ok: boolean;
  /** The batch compared (newest in the load ledger), or null when nothing is loaded yet. */
  batchId: string | null;
  seq: number | null;
  /**
   * How far behind totesys the compared warehouse is (operate/freshness.ts): the source instant it
   * reflects, which can be later than that batch's bound when a quiet extract followed it. Absent
   * when nothing is loaded.
   */
  freshness?: Freshness;
  tables: TableReport[];
  problems: string[];
}

/** Where a source table lands in the warehouse (department has no table: it is folded into dim_staff). */
const WAREHOUSE: Record<SourceTableName, { table: string; key: string; fact: boolean; money?: [string, string] } | null> = {
  address: { table: 'dim_location', key: 'location_id', fact: false },
  counterparty: { table: 'dim_counterparty', key: 'counterparty_id', fact: false },
  currency: { table: 'dim_currency', key: 'currency_id', fact: false },
  department: null,
  design: { table: 'dim_design', key: 'design_id', fact: false },
  staff: { table: 'dim_staff', key: 'staff_id', fact: false },
  sales_order: { table: 'fact_sales_order', key: 'sales_order_id', fact: true, money: ['unit_price', 'unit_price'] },
  purchase_order: { table: 'fact_purchase_order', key: 'purchase_order_id', fact: true, money: ['item_unit_price', 'item_unit_price'] },
  transaction: { table: 'dim_transaction', key: 'transaction_id', fact: false },
  payment: { table: 'fact_payment', key: 'payment_id', fact: true, money: ['payment_amount', 'payment_amount'] },
  payment_type: { table: 'dim_payment_type', key: 'payment_type_id', fact: false },
};

interface KeyState {
  lastUpdated: string | null;
  cents: number | null;
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' from any engine's rendering of a timestamp(3). */
export function timestampText(value: unknown): string {
  const text = String(value).replace('T', ' ').replace(/Z$/, '');
  const m = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(text);
  if (!m) throw new Error(`verify: "${text}" is not a timestamp`);
  return `${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}`;
}

const cents = (value: unknown): number | null => (value === null || value === undefined ? null : Math.round(Number(value) * 100));
const money = (c: number): string => (c / 100).toFixed(2);

export async function verify(ctx: PipelineContext): Promise<VerifyReport> {
  const warehouse = new pg.Client({ connectionString: await ctx.warehouse.url(), application_name: 'totes-lake-verify' });
  warehouse.on('error', () => undefined);
  await warehouse.connect();
  const source = new pg.Client({ connectionString: await ctx.source.url(), application_name: 'totes-lake-verify' });
  source.on('error', () => undefined);
  try {
    const schema = ctx.warehouseSchema;
    const ledger = await warehouse.query<{ seq: number; batch_id: string }>(
      `SELECT seq, batch_id FROM ${qualifiedTable(schema, 'load_ledger')} ORDER BY seq DESC LIMIT 1`,
    ).catch((err: Error) => {
      throw new Error(`verify: cannot read the load ledger of schema ${schema} at ${ctx.warehouse.description}: ${err.message}. Has anything been loaded?`);
    });
    if (!ledger.rows.length) return { ok: true, batchId: null, seq: null, tables: [], problems: ['nothing is loaded yet; nothing to compare'] };
    const { seq, batch_id: batchId } = ledger.rows[0];
    const transform = await readTransformManifest(ctx.processed, seq);
    const lastExtract = await readExtractManifest(ctx.ingestion, seq);
    if (transform.batchId !== batchId || lastExtract.batchId !== batchId) {
      return { ok: false, batchId, seq, tables: [], problems: [`the load ledger's batch ${batchId} (seq ${seq}) is not the lake's batch of that seq (${transform.batchId}); the warehouse and the lake belong to different runs`] };
    }
    const rawFiles: Partial<Record<SourceTableName, string[]>> = {};
    for (let s = 1; s <= seq; s++) {
      const m = s === seq ? lastExtract : await readExtractManifest(ctx.ingestion, s);
      for (const table of SOURCE_TABLES) (rawFiles[table.name] ??= []).push(...(m.tables[table.name]?.files ?? []).map((f) => f.key));
    }
    const warehouseDeleted = await readWarehouseDeleted(warehouse, schema);
    // Raw versions a batch was built without (rejected by an input check, superseded later): in the lake, never in the warehouse.
    const rejected = new Map<string, Set<string>>();
    for (let s = 1; s <= seq; s++) {
      const m = s === seq ? transform : await readTransformManifest(ctx.processed, s);
      for (const r of m.rejected ?? []) {
        if (!rejected.has(r.table)) rejected.set(r.table, new Set());
        rejected.get(r.table)!.add(`${r.id}@${r.lastUpdated}`);
      }
    }

    await source.connect();
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // What the next run compares with (extract.ts planRescue): the newest batch's snapshot, or a later quiet extract's.
    const newest = await latestExtractManifest(ctx.ingestion);
    const newestHeartbeat = newest ? await readExtractHeartbeat(ctx.processed, newest.seq).catch(() => undefined) : undefined;
    const nextCompares = newestHeartbeat?.afterBatchId === newest?.batchId && newestHeartbeat?.source ? newestHeartbeat.source : newest?.source;
    const tables: TableReport[] = [];
    for (const table of SOURCE_TABLES) {
      const bound = lastExtract.tables[table.name]?.window.upperBound;
      if (!bound) continue;
      tables.push(
        await verifyTable(ctx, source, warehouse, table, {
          bound,
          current: currentLocations(transform)[table.name],
          rawFiles: rawFiles[table.name] ?? [],
          lakeDeleted: await deletedKeys(ctx, table.name, seq),
          warehouseDeleted: warehouseDeleted.get(table.name) ?? new Set(),
          rejected: rejected.get(table.name) ?? new Set(),
          nextRun: newest && nextCompares ? { manifest: newest, source: nextCompares } : undefined,
        }),
      );
    }
    await source.query('COMMIT');
    const freshness = freshnessOf(lastExtract, await readExtractHeartbeat(ctx.processed, seq), ctx.now());
    return { ok: tables.every((t) => t.differences.length === 0), batchId, seq, ...(freshness ? { freshness } : {}), tables, problems: [] };
  } finally {
    await source.end().catch(() => undefined);
    await warehouse.end().catch(() => undefined);
  }
}

async function readWarehouseDeleted(client: pg.Client, schema: string): Promise<Map<string, Set<number>>> {
  const out = new Map<string, Set<number>>();
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`${schema}.deleted_rows`]);
  if (!exists.rows[0].t) return out;
  const rows = await client.query<{ source_table: string; source_id: number }>(`SELECT source_table, source_id FROM ${qualifiedTable(schema, 'deleted_rows')}`);
  for (const r of rows.rows) {
    if (!out.has(r.source_table)) out.set(r.source_table, new Set());
    out.get(r.source_table)!.add(r.source_id);
  }
  return out;
}

interface TableInputs {
  bound: string;
  current: string[] | undefined;
  rawFiles: string[];
  lakeDeleted: Set<number>;
  warehouseDeleted: Set<number>;
  /** `id@last_updated` of raw versions left out of the star schema on purpose (transform manifests' `rejected`). */
  rejected: Set<string>;
  /** The newest extract and the snapshot the next run's late-commit rescue compares with. */
  nextRun?: { manifest: ExtractManifest; source: SourceSnapshot };
}

async function verifyTable(ctx: PipelineContext, source: pg.Client, warehouse: pg.Client, table: SourceTable, input: TableInputs): Promise<TableReport> {
  const target = WAREHOUSE[table.name];
  const pk = table.primaryKey;
  const sourceMoney = target?.money?.[0];
  const differences: string[] = [];
  const sample = (ids: readonly (number | string)[]): string => `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''}`;

  // Source: every key; only rows older than the bound are expected downstream.
  const src = await source.query<{ id: number; lu: string; m: string | null }>(
    `SELECT "${pk}" AS id, to_char(last_updated, 'YYYY-MM-DD HH24:MI:SS.MS') AS lu, ${sourceMoney ? `"${sourceMoney}"::text` : 'NULL'} AS m FROM "${table.name}"`,
  );
  const sourceAll = new Map<number, KeyState>(src.rows.map((r) => [r.id, { lastUpdated: r.lu, cents: cents(r.m) }]));
  const newer = new Set(src.rows.filter((r) => r.lu >= input.bound).map((r) => r.id));
  const comparable = (id: number): boolean => !newer.has(id);

  // Lake: raw versions and the current state of the compared batch.
  // Grouped by every column: a version read twice is two identical rows; two writes of one row
  // stamped in the same millisecond are two versions with one key and different values (both
  // belong in the lake; the warehouse keeps the later: functions/core/load/load-statements.ts).
  const allColumns = table.columns.map((c) => c.name).join(', ');
  const versions = await ctx.engine.query(`SELECT ${pk} AS id, last_updated AS lu, count(*) AS copies FROM raw_${table.name} GROUP BY ${allColumns}`, {
    batch: {},
    current: {},
    star: {},
    raw: { [table.name]: input.rawFiles },
  });
  const lakeVersions = new Set<string>();
  const sharedStamps = new Set<string>();
  for (const v of versions) {
    const key = `${Number(v.id)}@${timestampText(v.lu)}`;
    if (lakeVersions.has(key)) sharedStamps.add(key);
    lakeVersions.add(key);
    if (Number(v.copies) > 1) differences.push(`lake holds version ${key} ${Number(v.copies)} times`);
  }
  const notes: string[] = [];
  if (sharedStamps.size) {
    notes.push(
      `${sharedStamps.size} key(s) carry two or more different versions stamped in the same millisecond (the lake holds each; the warehouse keeps the later): ` +
        sample([...sharedStamps]),
    );
  }
  const lakeCurrent = new Map<number, KeyState>();
  if (input.current) {
    const rows = await ctx.engine.query(`SELECT ${pk} AS id, last_updated AS lu${sourceMoney ? `, ${sourceMoney} AS m` : ''} FROM current_${table.name}`, {
      batch: {},
      current: { [table.name]: input.current },
      star: {},
    });
    for (const r of rows) lakeCurrent.set(Number(r.id), { lastUpdated: timestampText(r.lu), cents: cents(r.m) });
  }
  const lakeLive = [...lakeCurrent.keys()].filter((id) => !input.lakeDeleted.has(id));

  // Source vs lake.
  const missing = [...sourceAll.keys()].filter((id) => comparable(id) && !lakeCurrent.has(id));
  if (missing.length) differences.push(`${missing.length} source row(s) missing from the lake: ${pk} ${sample(missing)}`);
  const gone = lakeLive.filter((id) => !sourceAll.has(id));
  if (gone.length) differences.push(`${gone.length} lake row(s) deleted in the source without a deletion marker: ${pk} ${sample(gone)}`);
  const markedAlive = [...input.lakeDeleted].filter((id) => sourceAll.has(id));
  if (markedAlive.length) differences.push(`${markedAlive.length} row(s) marked deleted in the lake still exist in the source: ${pk} ${sample(markedAlive)}`);
  const stale = [...sourceAll.entries()].filter(([id, s]) => comparable(id) && lakeCurrent.has(id) && lakeCurrent.get(id)!.lastUpdated !== s.lastUpdated).map(([id]) => id);
  if (stale.length) differences.push(`${stale.length} row(s) whose lake current version differs from the source's: ${pk} ${sample(stale)}`);
  const unversioned = [...sourceAll.entries()].filter(([id, s]) => comparable(id) && !lakeVersions.has(`${id}@${s.lastUpdated}`)).map(([id]) => id);
  if (unversioned.length) {
    const cursor = input.nextRun?.manifest.tables[table.name]?.cursor;
    const rescued = cursor ? await rescuedByNextRun(source, table, unversioned, { source: input.nextRun!.source, cursor }) : new Set<number>();
    const note = rescued.size
      ? ` (${rescued.size} of them committed after batch ${input.nextRun!.manifest.seq}'s snapshot below its cursor: the next run rescues them — ${pk} ${sample([...rescued])})`
      : '';
    const repair = unversioned.length > rescued.size ? `; \`totes run --repair\` reads ${rescued.size ? `the other ${unversioned.length - rescued.size}` : 'them'}, once` : '';
    differences.push(`${unversioned.length} source version(s) absent from the raw lake: ${pk} ${sample(unversioned)}${note}${repair}`);
  }

  const report: TableReport = {
    table: table.name,
    warehouseTable: target?.table ?? null,
    sourceKeys: [...sourceAll.keys()].filter(comparable).length,
    lakeKeys: lakeLive.length,
    warehouseKeys: null,
    lakeVersions: lakeVersions.size,
    warehouseVersions: null,
    deleted: input.lakeDeleted.size,
    differences,
    ...(notes.length ? { notes } : {}),
  };
  if (!target) return report;

  // Warehouse: dimension ids, or fact versions and their current version per id.
  const whDeleted = input.warehouseDeleted;
  const lakeOnlyDeleted = [...input.lakeDeleted].filter((id) => !whDeleted.has(id));
  if (lakeOnlyDeleted.length) differences.push(`${lakeOnlyDeleted.length} lake deletion(s) not in the warehouse's deleted_rows: ${pk} ${sample(lakeOnlyDeleted)}`);
  const whOnlyDeleted = [...whDeleted].filter((id) => !input.lakeDeleted.has(id));
  if (whOnlyDeleted.length) differences.push(`${whOnlyDeleted.length} warehouse deleted_rows entr(ies) unknown to the lake: ${pk} ${sample(whOnlyDeleted)}`);
  const wt = qualifiedTable(ctx.warehouseSchema, target.table);
  const whCurrent = new Map<number, KeyState>();
  if (target.fact) {
    // In load order (the surrogate key): a row's last version loaded is its current one, whatever its stamp (current-views.ts).
    const surrogate = starTable(target.table).surrogateKey!;
    const rows = await warehouse.query<{ id: number; lu: string; m: string | null }>(
      `SELECT "${target.key}" AS id, to_char(last_updated_date, 'YYYY-MM-DD') || ' ' || to_char(last_updated_time, 'HH24:MI:SS.MS') AS lu, "${target.money![1]}"::text AS m FROM ${wt} ORDER BY "${surrogate}"`,
    );
    const whVersions = new Set<string>();
    for (const r of rows.rows) {
      const key = `${r.id}@${r.lu}`;
      if (whVersions.has(key)) differences.push(`warehouse holds version ${key} twice`);
      whVersions.add(key);
      whCurrent.set(r.id, { lastUpdated: r.lu, cents: cents(r.m) });
    }
    report.warehouseVersions = whVersions.size;
    const notLoaded = [...lakeVersions].filter((v) => !whVersions.has(v) && !input.rejected.has(v));
    if (notLoaded.length) differences.push(`${notLoaded.length} lake version(s) missing from ${target.table}: ${sample(notLoaded)}`);
    const extra = [...whVersions].filter((v) => !lakeVersions.has(v));
    if (extra.length) differences.push(`${extra.length} ${target.table} version(s) not in the lake: ${sample(extra)}`);
  } else {
    const rows = await warehouse.query<{ id: number }>(`SELECT "${target.key}" AS id FROM ${wt}`);
    for (const r of rows.rows) whCurrent.set(r.id, { lastUpdated: null, cents: null });
  }
  const whLive = [...whCurrent.keys()].filter((id) => !whDeleted.has(id));
  report.warehouseKeys = whLive.length;
  const whMissing = lakeLive.filter((id) => !whCurrent.has(id));
  if (whMissing.length) differences.push(`${whMissing.length} lake row(s) missing from ${target.table}: ${target.key} ${sample(whMissing)}`);
  const whExtra = whLive.filter((id) => !lakeCurrent.has(id));
  if (whExtra.length) differences.push(`${whExtra.length} ${target.table} row(s) unknown to the lake: ${target.key} ${sample(whExtra)}`);
  const whGone = whLive.filter((id) => !sourceAll.has(id));
  if (whGone.length) differences.push(`${whGone.length} ${target.table} row(s) deleted in the source and not in deleted_rows: ${target.key} ${sample(whGone)}`);

  if (target.fact && sourceMoney) {
    let s = 0;
    let l = 0;
    let w = 0;
    const staleWh: number[] = [];
    for (const [id, state] of sourceAll) {
      if (!comparable(id)) continue;
      s += state.cents ?? 0;
      l += lakeCurrent.get(id)?.cents ?? 0;
      const wh = whCurrent.get(id);
      w += wh?.cents ?? 0;
      if (wh && wh.lastUpdated !== state.lastUpdated) staleWh.push(id);
    }
    if (staleWh.length) differences.push(`${staleWh.length} ${target.table} current version(s) differ from the source's: ${target.key} ${sample(staleWh)}`);
    report.moneySums = { column: sourceMoney, source: money(s), lake: money(l), warehouse: money(w) };
    if (s !== l || s !== w) differences.push(`sum(${sourceMoney}) over current versions differs: source ${money(s)}, lake ${money(l)}, warehouse ${money(w)}`);
  }
  return report;
}

/** A plain-text report, one block per table. */
export function formatVerifyReport(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(report.batchId ? `Compared as of batch ${report.batchId} (seq ${report.seq})` : 'Nothing compared');
  if (report.freshness) {
    lines.push(`Freshness: ${formatAge(report.freshness.seconds)} (the warehouse reflects totesys as of ${report.freshness.sourceAt} UTC${report.freshness.via === 'heartbeat' ? ', confirmed by a later extract that found nothing new' : ''})`);
  }
  lines.push(...report.problems);
  const pad = (v: unknown, n: number): string => String(v ?? '-').padEnd(n);
  lines.push(`${pad('table', 16)}${pad('source keys', 13)}${pad('lake keys', 11)}${pad('wh keys', 9)}${pad('lake vers.', 12)}${pad('wh vers.', 10)}${pad('deleted', 9)}result`);
  for (const t of report.tables) {
    lines.push(
      `${pad(t.table, 16)}${pad(t.sourceKeys, 13)}${pad(t.lakeKeys, 11)}${pad(t.warehouseKeys, 9)}${pad(t.lakeVersions, 12)}${pad(t.warehouseVersions, 10)}${pad(t.deleted, 9)}${t.differences.length ? 'DIFFERENT' : 'ok'}`,
    );
    if (t.moneySums) lines.push(`    sum(${t.moneySums.column}): source ${t.moneySums.source}, lake ${t.moneySums.lake}, warehouse ${t.moneySums.warehouse}`);
    for (const n of t.notes ?? []) lines.push(`    · ${n}`);
    for (const d of t.differences) lines.push(`    ✗ ${d}`);
  }
  lines.push(report.ok ? 'verify: source, lake and warehouse agree' : 'verify: DIFFERENCES FOUND');
  return lines.join('\n');
}
