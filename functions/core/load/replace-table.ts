import type pg from 'pg';
import { STAR_TABLES, type StarTable, type StarTableName } from '../contract/star-tables';
import { CURRENT_VIEWS, currentViewSelect } from '../analysis/current-views';
import type { ObjectStore } from '../ports/object-store';
import { quoteIdent } from '../sql/sql-text';
import { qualifiedTable, unnestSource } from './load-statements';
import { readParquetColumns } from '../lake/parquet-rows';
import { quoteSchema, warehouseLockKey } from './warehouse-migrations';

/**
 * Replaces a fact table of the warehouse with its rebuilt rows (a backfill, transform/backfill.ts),
 * in ONE transaction under the load's advisory lock: a new table beside the old one
 * (`CREATE TABLE <fact>__backfill (LIKE <fact> INCLUDING ALL)`), the rows copied into it, then the
 * old table dropped and the new one renamed into its place, its `*_current` view recreated.
 * Readers see the old table or the new one, never a half-loaded one; a crash anywhere rolls back.
 *
 * Each version keeps its surrogate key (`*_record_id`, which orders a row's versions by batch: the
 * current views rely on it); a rebuilt row with no version in the old table (there should be none:
 * the warehouse must hold every batch the rows come from) gets a new one after them. A version of
 * the old table missing from the rebuilt rows fails the replacement: nothing is lost silently.
 */

export interface ReplacementSource {
  seq: number;
  batchId: string;
  /** Parquet object keys in the processed store. */
  files: string[];
  rows: number;
}

export interface ReplacementResult {
  table: StarTableName;
  rows: number;
  /** The newest batch in the load ledger when the table was replaced. */
  ledgerSeq: number;
}

const CHUNK_ROWS = 20_000;

/**
 * `sources(ledgerSeq)` names the Parquet of every batch up to the ledger's newest seq (read inside
 * the transaction, after the lock, so no load slips in between). Throws when the ledger has not
 * reached `throughSeq` (the batches a backfill rebuilt must be loaded before they are replaced).
 */
export async function replaceFactTable(
  client: pg.Client,
  store: ObjectStore,
  schema: string,
  tableName: StarTableName,
  throughSeq: number,
  sources: (ledgerSeq: number) => Promise<ReplacementSource[]>,
  onStep: (step: string) => void | Promise<void> = () => undefined,
): Promise<ReplacementResult> {
  const table = STAR_TABLES.find((t) => t.name === tableName && t.kind === 'fact');
  if (!table) throw new Error(`${tableName} is not a fact table of the star contract`);
  const q = quoteSchema(schema);
  const target = qualifiedTable(schema, table.name);
  const fresh = `${table.name}__backfill`;
  const freshTable = qualifiedTable(schema, fresh);
  const stage = quoteIdent(`backfill_rows_${table.name}`);
  const cols = table.columns.map((c) => quoteIdent(c.name));
  const key = table.key.map((k) => quoteIdent(k));
  const recordId = quoteIdent(surrogateKey(table));
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [warehouseLockKey(schema)]);
    await client.query(`SET LOCAL search_path TO ${q}`);
    const ledger = await client.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM ${qualifiedTable(schema, 'load_ledger')}`);
    const ledgerSeq = ledger.rows[0].seq === null ? 0 : Number(ledger.rows[0].seq);
    if (ledgerSeq < throughSeq) {
      throw new Error(`the warehouse's load ledger of schema ${schema} reaches batch seq ${ledgerSeq}, the backfill rebuilt up to ${throughSeq}: load the pending batches first (totes run), then resume`);
    }
    // The rebuilt rows, with the batch each came from (two versions of one key keep the later batch's, as the load does: load-statements.ts).
    await client.query(`CREATE TEMP TABLE ${stage} ON COMMIT DROP AS SELECT ${cols.join(', ')}, 0::integer AS _seq FROM ${target} WITH NO DATA`);
    const insert = `INSERT INTO ${stage} (${cols.join(', ')}, _seq) SELECT ${cols.join(', ')}, $${cols.length + 1}::integer FROM ${unnestSource(table)}`;
    for (const source of await sources(ledgerSeq)) {
      let rows = 0;
      for (const file of source.files) {
        for await (const chunk of readParquetColumns(await store.get(file), table.columns, { file, chunkRows: CHUNK_ROWS })) {
          await client.query(insert, [...chunk.columns, source.seq]);
          rows += chunk.rows;
        }
      }
      if (rows !== source.rows) throw new Error(`batch ${source.batchId} of ${table.name} holds ${rows} rows in its files, its record says ${source.rows}`);
    }
    await onStep('warehouse-copied');
    await client.query(`DROP TABLE IF EXISTS ${freshTable}`);
    await client.query(`CREATE TABLE ${freshTable} (LIKE ${target} INCLUDING ALL)`);
    const lastOfKey = `SELECT DISTINCT ON (${key.join(', ')}) ${cols.join(', ')}, _seq FROM ${stage} ORDER BY ${key.join(', ')}, _seq DESC`;
    const kept = await client.query(
      `INSERT INTO ${freshTable} (${recordId}, ${cols.join(', ')}) OVERRIDING SYSTEM VALUE
       SELECT o.${recordId}, ${cols.map((c) => `n.${c}`).join(', ')} FROM (${lastOfKey}) AS n JOIN ${target} AS o USING (${key.join(', ')})`,
    );
    const old = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${target}`);
    if (Number(old.rows[0].n) !== (kept.rowCount ?? 0)) {
      throw new Error(
        `${Number(old.rows[0].n) - (kept.rowCount ?? 0)} version(s) of ${schema}.${table.name} are not among the rebuilt rows; the table was left as it was. Is the warehouse loaded from another lake?`,
      );
    }
    await client.query(`SELECT setval(pg_get_serial_sequence('${schema}.${fresh}', '${surrogateKey(table)}'), coalesce((SELECT max(${recordId}) FROM ${freshTable}), 0) + 1, false)`);
    await client.query(
      `INSERT INTO ${freshTable} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM (${lastOfKey}) AS n WHERE NOT EXISTS (SELECT 1 FROM ${target} AS o WHERE ${key.map((k) => `o.${k} = n.${k}`).join(' AND ')}) ORDER BY _seq`,
    );
    const views = CURRENT_VIEWS.filter((v) => v.fact.name === table.name);
    for (const view of views) await client.query(`DROP VIEW IF EXISTS ${qualifiedTable(schema, view.name)}`);
    await client.query(`DROP TABLE ${target}`);
    await client.query(`ALTER TABLE ${freshTable} RENAME TO ${quoteIdent(table.name)}`);
    await renameCompanions(client, schema, fresh, table.name);
    for (const view of views) await client.query(`CREATE VIEW ${qualifiedTable(schema, view.name)} AS\n${currentViewSelect(view, 'warehouse')}`);
    await onStep('warehouse-swapped');
    const count = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${target}`);
    await client.query('COMMIT');
    return { table: table.name, rows: Number(count.rows[0].n), ledgerSeq };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The fact's surrogate key (`sales_record_id`, …): declared in the star contract, not among its lake columns. */
function surrogateKey(table: StarTable): string {
  if (!table.surrogateKey) throw new Error(`The star contract declares no surrogate key for ${table.name}`);
  return table.surrogateKey;
}

/**
 * The new table's indexes and identity sequence were named after `<fact>__backfill`: renamed to the
 * fact's own names (free once the old table is dropped), so the next backfill can build beside it again.
 */
async function renameCompanions(client: pg.Client, schema: string, from: string, to: string): Promise<void> {
  const indexes = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('i', 'S') AND c.relname LIKE $2`,
    [schema, `${from.replace(/_/g, '\\_')}%`],
  );
  for (const { name } of indexes.rows) {
    const renamed = `${to}${name.slice(from.length)}`.slice(0, 63);
    const kind = name.endsWith('_seq') ? 'SEQUENCE' : 'INDEX';
    await client.query(`ALTER ${kind} ${quoteSchema(schema)}.${quoteIdent(name)} RENAME TO ${quoteIdent(renamed)}`);
  }
}
