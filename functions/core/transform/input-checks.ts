import { SOURCE_TABLES, type SourceTable, type SourceTableName } from '../contract/source-tables';
import { extractSeqsAfter, readExtractManifest } from '../lake/manifest-log';
import type { ExtractManifest } from '../lake/manifests';
import type { PipelineContext } from '../pipeline-context';
import { timestampText } from '../verify/verify';

/**
 * Input checks: raw row versions of a batch that break the contract in a way the star schema
 * cannot hold, found BEFORE the batch is built so the quarantine report can name the table,
 * column, row and value (an engine's cast error names none of them).
 *
 * Today one rule: a text column the star turns into a date (`*_date`, 'YYYY-MM-DD') must parse
 * as a date on the engine that builds the batch (`try_cast(x AS date)`, same meaning as the
 * `CAST` the SQL files use; Trino and DuckDB both). NULLs in NOT NULL columns never get this far:
 * the extract's drift check refuses a column that became nullable.
 *
 * The way out of such a quarantine: fix the row in totesys. Its next version is extracted by a
 * later batch (or its deletion is detected); from then on the rejected version is *superseded*,
 * and the quarantined batch is built without it — exactly as if the fix had happened before the
 * extract, when the bad version would never have been read. Until then the batch, and every
 * later one, waits. Rejected versions stay in the raw lake and are listed in the batch's
 * transform manifest (`rejected`), which `totes verify` reads.
 */

export interface RejectedVersion {
  table: SourceTableName;
  id: number;
  /** 'YYYY-MM-DD HH:MM:SS.mmm' */
  lastUpdated: string;
  column: string;
  value: string;
  /** The later batch holding a newer version (or the deletion) of the row, once there is one. */
  supersededBy?: string;
}

/** Source text columns the star casts to a date. */
export function dateTextColumns(table: SourceTable): string[] {
  return table.columns.filter((c) => c.type === 'text' && c.name.endsWith('_date')).map((c) => c.name);
}

/** A row passes when every date text column is NULL or parses (identifiers from the contract only). */
export function acceptPredicate(table: SourceTable): string | undefined {
  const columns = dateTextColumns(table);
  return columns.length ? columns.map((c) => `(${c} IS NULL OR try_cast(${c} AS date) IS NOT NULL)`).join(' AND ') : undefined;
}

/**
 * Rewrites a SELECT so that `batch_<table>` of each listed table reads only accepted rows. The
 * relation is referenced as `FROM batch_<table>` / `JOIN batch_<table>` in the SQL files and the
 * generated merge; it is replaced by a subquery of the same name.
 */
export function readAcceptedOnly(sql: string, tables: readonly SourceTableName[]): string {
  let out = sql;
  for (const name of tables) {
    const predicate = acceptPredicate(SOURCE_TABLES.find((t) => t.name === name)!);
    if (!predicate) continue;
    out = out.replace(new RegExp(`\\b(FROM|JOIN)\\s+batch_${name}\\b`, 'g'), `$1 (SELECT * FROM batch_${name} WHERE ${predicate}) AS batch_${name}`);
  }
  return out;
}

/**
 * Every version of the batch that breaks an input rule, one entry per failing column, in contract
 * order (table, then id, then column). One query for all tables (a UNION ALL of one SELECT per date
 * text column): a batch pays one engine round trip here, not one per table.
 */
export async function findRejectedVersions(ctx: Pick<PipelineContext, 'engine'>, extract: ExtractManifest): Promise<RejectedVersion[]> {
  const parts: string[] = [];
  const batch: Partial<Record<SourceTableName, string[]>> = {};
  const checked: { table: SourceTable; columns: string[] }[] = [];
  for (const table of SOURCE_TABLES) {
    const files = extract.tables[table.name]?.files.map((f) => f.key) ?? [];
    const columns = dateTextColumns(table);
    if (!files.length || !columns.length) continue;
    batch[table.name] = files;
    const t = checked.push({ table, columns }) - 1;
    columns.forEach((c, i) => {
      parts.push(
        `SELECT ${t} AS t, ${i} AS c, ${table.primaryKey} AS id, last_updated AS lu, ${c} AS value FROM batch_${table.name} WHERE ${c} IS NOT NULL AND try_cast(${c} AS date) IS NULL`,
      );
    });
  }
  if (!parts.length) return [];
  const rows = await ctx.engine.query(`SELECT t, c, id, lu, value FROM (\n${parts.join('\nUNION ALL\n')}\n) AS bad ORDER BY t, id, lu, c`, { batch, current: {}, star: {} });
  return rows.map((row) => {
    const { table, columns } = checked[Number(row.t)];
    return { table: table.name, id: Number(row.id), lastUpdated: timestampText(row.lu), column: columns[Number(row.c)], value: String(row.value) };
  });
}

/**
 * Marks each rejected version superseded when a later published extract batch holds a version of
 * its row (a later batch's version is the newer one, whatever its stamp: current-state.ts), or that
 * row's deletion. Reads only the keys of later batches.
 */
export async function markSuperseded(ctx: Pick<PipelineContext, 'engine' | 'ingestion'>, extract: ExtractManifest, rejected: RejectedVersion[]): Promise<void> {
  const open = (): RejectedVersion[] => rejected.filter((r) => !r.supersededBy);
  for (const seq of await extractSeqsAfter(ctx.ingestion, extract.seq)) {
    if (!open().length) return;
    const later = await readExtractManifest(ctx.ingestion, seq);
    for (const name of new Set(open().map((r) => r.table))) {
      const table = SOURCE_TABLES.find((t) => t.name === name)!;
      const deleted = new Set(later.tables[name]?.deletions?.ids ?? []);
      const files = later.tables[name]?.files.map((f) => f.key) ?? [];
      const changedLater = new Set<number>();
      if (files.length) {
        const rows = await ctx.engine.query(`SELECT DISTINCT ${table.primaryKey} AS id FROM batch_${name}`, {
          batch: { [name]: files },
          current: {},
          star: {},
        });
        for (const row of rows) changedLater.add(Number(row.id));
      }
      for (const r of open().filter((o) => o.table === name)) {
        if (deleted.has(r.id) || changedLater.has(r.id)) r.supersededBy = later.batchId;
      }
    }
  }
}

export const describeRejected = (r: RejectedVersion): string =>
  `${r.table}.${r.column} = '${r.value}' (${sourceKey(r.table)} ${r.id}, last_updated ${r.lastUpdated}) is not a 'YYYY-MM-DD' date`;

const sourceKey = (name: SourceTableName): string => SOURCE_TABLES.find((t) => t.name === name)!.primaryKey;
