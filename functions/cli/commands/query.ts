import type { Log } from '../../core/ports/log';
import { lakeBindings } from '../../core/transform/lake-bindings';
import { withCurrentViews } from '../../core/analysis/current-views';
import { parseCommand, UsageError } from '../cli-options';
import { openLakeFolder } from '../local-context';
import { textTable } from '../text-table';
import path from 'node:path';
import { DuckDbEngine } from '../../engines/duckdb/engine';
import { FolderObjectStore } from '../../local/folder-object-store';
import { FolderCatalog } from '../../local/folder-catalog';

export const QUERY_HELP = `totes query "SQL" [--json]
  Queries the lake with DuckDB, the local stand-in for Athena. Tables: raw_<source table> (every
  published raw row version), current_<source table>, the star tables (dim_*; fact_* with created_month and batch_id,
  as in Athena) and the current-state views
  fact_sales_order_current, fact_purchase_order_current, fact_payment_current (latest version of each).`;

export async function queryCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { positionals, common } = parseCommand(argv, {});
  const sql = positionals.join(' ').trim();
  if (!sql) throw new UsageError('totes query needs a SQL statement, e.g. totes query "SELECT count(*) FROM fact_sales_order"');
  const log = makeLog(common.json, common.verbose);
  await openLakeFolder(common.lake);
  const ingestion = new FolderObjectStore(path.join(common.lake, 'ingestion'));
  const processed = new FolderObjectStore(path.join(common.lake, 'processed'));
  const engine = await DuckDbEngine.create(ingestion, processed);
  try {
    const bindings = await lakeBindings({ ingestion, processed, catalog: new FolderCatalog(processed) });
    const rows = await engine.query(withCurrentViews(sql), bindings);
    if (common.json) process.stdout.write(`${JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    else process.stdout.write(`${textTable(rows)}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`);
    void log;
    return 0;
  } finally {
    await engine.close();
  }
}
