import { postgresDataType, SOURCE_TABLES, type SourceTable } from '../contract/source-tables';

/**
 * Drift between the table contract and what totesys really has, from `information_schema.columns`.
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

export const INFORMATION_SCHEMA_QUERY =
  'SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns ' +
  'WHERE table_schema = current_schema() AND table_name = ANY($1::text[]) ORDER BY table_name, ordinal_position';

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
