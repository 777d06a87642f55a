/**
 * The write-load soak shared by the write-load scenario (write-load.test.ts) and the bench's
 * `load_versions_lost`: pgbench writers (test/support/write-load.ts) for a fixed time while the
 * pipeline runs again and again, then settling runs, then the audit oracle's verdict.
 *
 * Extracts run back to back (the race that loses versions is in the extract), a whole run
 * (transform and load) after every third; each extract is bracketed by source snapshots for the
 * oracle (AuditOracle.underLoad).
 */
import { Client } from 'pg';
import { extract, type ExtractResult } from '../../functions/core/extract/extract';
import type { SourceTableName } from '../../functions/core/contract/source-tables';
import { loadPending } from '../../functions/core/load/load';
import { transformPending } from '../../functions/core/transform/transform';
import { formatVerifyReport, verify } from '../../functions/core/verify/verify';
import { compareUnderLoad, duplicatedVersions, FACT_SOURCES, lakeVersions, warehouseFactVersions, type LoadExtract, type VersionKey } from '../support/audit-oracle';
import { runWriteLoad, type WriteLoadResult } from '../support/write-load';
import type { Scenario } from './scenario-harness';

export interface SoakResult {
  written: WriteLoadResult;
  extracts: number;
  published: number;
  /** Versions the oracle says the lake must hold. */
  mustVersions: number;
  /** Must-versions the lake lacks (the headline: 0). */
  versionsLost: number;
  /** Versions the batches rescued below their cursors (late commits). */
  rescued: number;
  /** Versions the lake holds more than once (the same row twice, or a key more often than versions share it). */
  duplicated: number;
  /** Keys that two or more versions share (writes of one row stamped in the same millisecond), as the oracle counted them. */
  sharedStamps: number;
  /** Final versions of rows that the oracle's own must-set lacks (an oracle or settling fault; 0). */
  finalsNotExpected: string[];
  /** Every disagreement (lake, warehouse facts, verify); empty when exact. */
  problems: string[];
}

export async function soakUnderWriteLoad(s: Scenario, options: { seconds: number; clients: number; stampSkewMs?: number }): Promise<SoakResult> {
  const extracts: LoadExtract[] = [];
  const results: ExtractResult[] = [];
  const oneExtract = async (): Promise<void> => {
    const before = await s.oracle.snapshot();
    const result = await extract(s.ctx);
    const after = await s.oracle.snapshot();
    results.push(result);
    if (result.published && result.manifest) {
      const bounds = Object.fromEntries(Object.entries(result.manifest.tables).map(([t, table]) => [t, table.window.upperBound]));
      extracts.push({ before, after, bounds });
    } else if (result.reason === 'nothing-new' && result.upperBound) {
      const bound = result.upperBound;
      extracts.push({ before, after, bounds: Object.fromEntries(FACT_SOURCES.map(([t]) => [t, bound])) });
    }
  };
  const transformAndLoad = async (): Promise<void> => {
    await transformPending(s.ctx);
    await loadPending(s.ctx);
  };

  await oneExtract();
  await transformAndLoad();
  const [max] = await s.sql<{ so: number; pay: number; po: number }>(
    'SELECT (SELECT max(sales_order_id) FROM sales_order) AS so, (SELECT max(payment_id) FROM payment) AS pay, (SELECT max(purchase_order_id) FROM purchase_order) AS po',
  );
  let writing = true;
  const load = runWriteLoad(s.source.url, { salesOrder: max.so, payment: max.pay, purchaseOrder: max.po }, options).finally(() => {
    writing = false;
  });
  let runs = 0;
  while (writing) {
    await oneExtract();
    if (++runs % 3 === 0) await transformAndLoad();
  }
  const written = await load;
  // Settling runs: nothing writes any more, so the last one sees every row's final version.
  for (let i = 0; i < 2; i++) {
    await oneExtract();
    await transformAndLoad();
  }

  const expected = await s.oracle.underLoad(extracts);
  const finals = await s.sql<{ v: string; op: string }>(
    `SELECT DISTINCT ON (table_name, pk) table_name || ':' || pk || '@' || last_updated AS v, op FROM audit.row_version ORDER BY table_name, pk, id DESC`,
  );
  const finalsNotExpected = finals.filter((r) => r.op !== 'D' && !expected.must.has(r.v)).map((r) => r.v);

  const { versions: lake, identical } = await lakeVersions(s.ctx.ingestion);
  const problems = compareUnderLoad('lake', lake, expected, { identical });
  const facts = new Map<VersionKey, number>();
  for (const { got } of (await warehouseFactVersions(s.warehouse.url)).values()) for (const v of got) facts.set(v, (facts.get(v) ?? 0) + 1);
  problems.push(...compareUnderLoad('warehouse facts', facts, expected, { tables: FACT_SOURCES.map(([t]) => t as SourceTableName), oneEach: true }));
  problems.push(...(await currentValuesDiffer(s)));
  const report = await verify(s.ctx);
  if (!report.ok) problems.push(formatVerifyReport(report));
  return {
    written,
    extracts: results.length,
    published: results.filter((r) => r.published).length,
    mustVersions: expected.must.size,
    versionsLost: [...expected.must].filter((v) => !lake.has(v)).length,
    duplicated: duplicatedVersions(lake, expected, { identical }).length,
    sharedStamps: expected.sharing.size,
    rescued: results.reduce((sum, r) => sum + Object.values(r.manifest?.tables ?? {}).reduce((n, t) => n + (t.rescued?.rows ?? 0), 0), 0),
    finalsNotExpected,
    problems,
  };
}

/**
 * The columns the writers change (test/support/write-load.ts), per fact source: after settling,
 * each row's current fact in the warehouse must carry the source's values — also when its last two
 * versions share a stamp, which a comparison by key cannot see.
 */
const WRITTEN_COLUMNS: readonly [SourceTableName, string, string, readonly string[]][] = [
  ['sales_order', 'fact_sales_order_current', 'sales_order_id', ['units_sold', 'unit_price']],
  ['payment', 'fact_payment_current', 'payment_id', ['paid']],
  ['purchase_order', 'fact_purchase_order_current', 'purchase_order_id', ['item_quantity']],
];

async function currentValuesDiffer(s: Scenario): Promise<string[]> {
  const problems: string[] = [];
  const warehouse = new Client({ connectionString: s.warehouse.url });
  await warehouse.connect();
  try {
    for (const [table, view, key, columns] of WRITTEN_COLUMNS) {
      const select = `SELECT "${key}" AS id, ${columns.map((c) => `"${c}"::text AS "${c}"`).join(', ')} FROM`;
      const source = new Map((await s.sql<Record<string, string>>(`${select} "${table}"`)).map((r) => [String(r.id), columns.map((c) => r[c]).join('|')]));
      const rows = (await warehouse.query<Record<string, string>>(`${select} "${view}"`)).rows;
      const differ = rows.filter((r) => source.get(String(r.id)) !== columns.map((c) => r[c]).join('|')).map((r) => r.id);
      if (differ.length) problems.push(`warehouse ${view}: ${differ.length} row(s) whose current values differ from the source's: ${key} ${differ.slice(0, 10).join(', ')}`);
    }
  } finally {
    await warehouse.end();
  }
  return problems;
}
