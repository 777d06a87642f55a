import pg from 'pg';
import { STAR_TABLE_NAMES, starTable, type StarType } from '../contract/star-tables';
import { quoteIdent } from '../sql/sql-text';
import { qualifiedTable } from './load-statements';

/**
 * Read-side helpers over the warehouse for the CLI (`totes status`, `totes query`) and tests:
 * each opens one connection and closes it on every path (PGlite serves one at a time).
 */

/**
 * Canonical text, independent of server settings: dates 'YYYY-MM-DD', times 'HH:MM:SS.mmm' (a plain
 * ::text would drop trailing zeros of the milliseconds), everything else as PostgreSQL prints it.
 */
function asText(column: string, type: StarType | 'timestamp' | undefined): string {
  if (type === 'timestamp') return `to_char(${column}, 'YYYY-MM-DD HH24:MI:SS.MS')`;
  if (type === 'date') return `to_char(${column}, 'YYYY-MM-DD')`;
  if (type === 'time') return `to_char(${column}, 'HH24:MI:SS.MS')`;
  return `${column}::text`;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Row count of every star table, the load ledger and deleted_rows. */
export async function warehouseRowCounts(url: string, schema: string): Promise<Record<string, number>> {
  return withClient(url, async (client) => {
    const counts: Record<string, number> = {};
    for (const table of [...STAR_TABLE_NAMES, 'load_ledger', 'deleted_rows']) {
      const res = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedTable(schema, table)}`);
      counts[table] = Number(res.rows[0].n);
    }
    return counts;
  });
}

/**
 * Every row of a star table (or `load_ledger`, `deleted_rows`), values as PostgreSQL's text output, ordered by the
 * natural key (facts: id, last_updated date and time; the ledger: seq). Dates read 'YYYY-MM-DD',
 * times 'HH:MM:SS.mmm', numerics with their two decimals, booleans 'true'/'false', NULL as null.
 */
export async function readWarehouseTable(url: string, schema: string, table: string): Promise<Record<string, string | null>[]> {
  let columns: { name: string; type?: StarType | 'timestamp' }[];
  let order: string[];
  if (table === 'load_ledger') {
    columns = ['batch_id', 'seq', 'loaded_at', 'rows', 'sql_versions', 'elapsed_ms'].map((name) => ({ name }));
    order = ['seq'];
  } else if (table === 'deleted_rows') {
    columns = [{ name: 'source_table' }, { name: 'source_id' }, { name: 'detected_at', type: 'timestamp' }, { name: 'batch_id' }];
    order = ['source_table', 'source_id'];
  } else {
    const star = starTable(table);
    columns = [...(star.surrogateKey ? [{ name: star.surrogateKey }] : []), ...star.columns];
    order = [...star.key];
  }
  const select = columns.map((c) => `${asText(quoteIdent(c.name), c.type)} AS ${quoteIdent(c.name)}`).join(', ');
  const orderBy = order.map((c) => quoteIdent(c)).join(', ');
  return withClient(url, async (client) => {
    const res = await client.query<Record<string, string | null>>(`SELECT ${select} FROM ${qualifiedTable(schema, table)} ORDER BY ${orderBy}`);
    return res.rows;
  });
}
