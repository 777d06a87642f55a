import { parquetMetadata } from 'hyparquet';
import { LINEAGE_COLUMNS, starTable, type StarColumn } from '../../../functions/core/contract/star-tables';
import { readParquetColumns, type LoadValue } from '../../../functions/core/lake/parquet-rows';
import type { ObjectStore } from '../../../functions/core/ports/object-store';

/**
 * Reads a star table's output the way the warehouse load does (hyparquet, values in the text
 * forms PostgreSQL parses), whichever engine wrote it, and compares two engines' outputs.
 */

/** Data files under a prefix: everything but hidden files (Trino and Athena write no extension). */
export async function dataFiles(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) {
    const name = info.key.slice(prefix.length);
    if (!name.split('/').some((part) => part.startsWith('.') || part.startsWith('_'))) keys.push(info.key);
  }
  return keys.sort();
}

function columnsOf(table: string): StarColumn[] {
  return [
    ...starTable(table).columns,
    ...LINEAGE_COLUMNS.map((name): StarColumn => ({ name, type: 'text', nullable: false, description: 'lineage' })),
  ];
}

/** Every row under the prefixes, as `[column, value]` records, sorted canonically. */
export async function readStarRows(store: ObjectStore, table: string, prefixes: readonly string[]): Promise<Record<string, LoadValue>[]> {
  const columns = columnsOf(table);
  const rows: Record<string, LoadValue>[] = [];
  for (const prefix of prefixes) {
    for (const key of await dataFiles(store, prefix)) {
      const bytes = await store.get(key);
      for await (const chunk of readParquetColumns(bytes, columns, { file: key })) {
        for (let r = 0; r < chunk.rows; r++) rows.push(Object.fromEntries(columns.map((c, i) => [c.name, chunk.columns[i][r]])));
      }
    }
  }
  return rows.sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0));
}

const canonical = (row: Record<string, LoadValue>): string => JSON.stringify(row);

/**
 * The Parquet type of each star column in the files under the prefixes: physical + logical. An
 * output with no rows may have no file (Trino) or an empty one (DuckDB): both add nothing.
 */
export async function parquetTypes(store: ObjectStore, table: string, prefixes: readonly string[]): Promise<Record<string, string>> {
  const wanted = new Set(columnsOf(table).map((c) => c.name));
  const types: Record<string, string> = {};
  const keys = (await Promise.all(prefixes.map((p) => dataFiles(store, p)))).flat();
  for (const key of keys) {
    const bytes = await store.get(key);
    const meta = parquetMetadata(bytes.slice().buffer as ArrayBuffer);
    for (const e of meta.schema.slice(1)) {
      if (!wanted.has(e.name)) continue;
      const logical = e.logical_type ? e.logical_type.type : e.converted_type;
      const decimal = logical === 'DECIMAL' ? `(${e.precision},${e.scale})` : '';
      const kind = logical === 'DECIMAL' ? 'DECIMAL' : logical === 'DATE' ? 'DATE' : e.type === 'BYTE_ARRAY' ? 'STRING' : e.type;
      const type = `${kind}${decimal}`;
      if (types[e.name] && types[e.name] !== type) throw new Error(`${table}.${e.name} is ${types[e.name]} in one file and ${type} in ${key}`);
      types[e.name] = type;
    }
  }
  return types;
}

/** Rows only one side has (a multiset difference), at most `limit` per side, for a readable failure. */
export function rowDifferences(
  left: Record<string, LoadValue>[],
  right: Record<string, LoadValue>[],
  limit = 5,
): { onlyLeft: Record<string, LoadValue>[]; onlyRight: Record<string, LoadValue>[]; leftCount: number; rightCount: number } {
  const minus = (a: Record<string, LoadValue>[], b: Record<string, LoadValue>[]): Record<string, LoadValue>[] => {
    const counts = new Map<string, number>();
    for (const row of b) counts.set(canonical(row), (counts.get(canonical(row)) ?? 0) + 1);
    return a.filter((row) => {
      const n = counts.get(canonical(row)) ?? 0;
      if (n > 0) counts.set(canonical(row), n - 1);
      return n === 0;
    });
  };
  const onlyLeft = minus(left, right);
  const onlyRight = minus(right, left);
  return { onlyLeft: onlyLeft.slice(0, limit), onlyRight: onlyRight.slice(0, limit), leftCount: onlyLeft.length, rightCount: onlyRight.length };
}
