import { postgresDataType, SOURCE_TABLES, type SourceTable } from '../contract/source-tables';

/**
 * Drift between the table contract and what totesys really has, as `information_schema.columns`
 * describes its columns ({@link INFORMATION_SCHEMA_QUERY}).
 *
 * A missing table or column, a changed type or a column that became nullable breaks the contract:
 * the extract stops with an error naming each one, before reading a row. A column totesys added is
 * a declared evolution: it is not extracted (the contract decides what we read) and is reported
 * as a warning, so the contract can be extended on purpose.
 */
export interface InformationSchemaColumn {
  table_name: string;
  column_name: string;
  data_type: string;
  is_nullable: 'YES' | 'NO';
}

export interface Drift {
  errors: string[];
  warnings: string[];
}

/**
 * The contract tables' columns as `information_schema.columns` describes them (name, `data_type`,
 * `is_nullable`, in column order), read from the system catalogs with that view's own expressions
 * for `data_type` and `is_nullable`: the view itself checks privileges on every column of the
 * schema and costs a few ms per run on a fresh connection, the catalogs about a third of that
 * (issue 14, item 1). test/integration/extract/schema-drift.test.ts compares the two on every kind
 * of column (built-in, domain, array, enum, NOT NULL). One difference, on purpose: a table the role
 * may not read is listed (its COPY then fails with PostgreSQL's permission error) where the view
 * would hide it and the drift check call it missing.
 */
export const INFORMATION_SCHEMA_QUERY = `SELECT c.relname AS table_name, a.attname AS column_name,
       CASE WHEN t.typtype = 'd' THEN
              CASE WHEN bt.typelem <> 0 AND bt.typlen = -1 THEN 'ARRAY' WHEN nbt.nspname = 'pg_catalog' THEN format_type(t.typbasetype, NULL) ELSE 'USER-DEFINED' END
            ELSE
              CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN 'ARRAY' WHEN nt.nspname = 'pg_catalog' THEN format_type(a.atttypid, NULL) ELSE 'USER-DEFINED' END
       END AS data_type,
       CASE WHEN a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) THEN 'NO' ELSE 'YES' END AS is_nullable
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_namespace nt ON nt.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
  LEFT JOIN pg_catalog.pg_namespace nbt ON nbt.oid = bt.typnamespace
 WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'v', 'f', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum`;

export function detectDrift(actual: readonly InformationSchemaColumn[], tables: readonly SourceTable[] = SOURCE_TABLES): Drift {
  const errors: string[] = [];
  const warnings: string[] = [];
  const byTable = new Map<string, Map<string, InformationSchemaColumn>>();
  for (const col of actual) {
    if (!byTable.has(col.table_name)) byTable.set(col.table_name, new Map());
    byTable.get(col.table_name)!.set(col.column_name, col);
  }
  for (const table of tables) {
    const columns = byTable.get(table.name);
    if (!columns) {
      errors.push(`table "${table.name}" is missing from the source database`);
      continue;
    }
    for (const expected of table.columns) {
      const found = columns.get(expected.name);
      if (!found) {
        errors.push(`column ${table.name}.${expected.name} is missing`);
        continue;
      }
      const wantType = postgresDataType(expected.type);
      if (found.data_type !== wantType) {
        errors.push(`column ${table.name}.${expected.name} is ${found.data_type}, the contract says ${wantType}`);
      }
      if (!expected.nullable && found.is_nullable === 'YES') {
        errors.push(`column ${table.name}.${expected.name} became nullable; the contract says NOT NULL`);
      }
      columns.delete(expected.name);
    }
    for (const extra of columns.keys()) {
      warnings.push(`column ${table.name}.${extra} is new in the source and is not extracted (add it to the table contract to carry it)`);
    }
  }
  return { errors, warnings };
}
