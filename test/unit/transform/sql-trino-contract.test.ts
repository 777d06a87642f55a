import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from 'node-sql-parser';
import { currentStateSql } from '../../../functions/core/transform/current-state';
import { SOURCE_TABLES } from '../../../functions/core/contract/source-tables';
import { dataTests } from '../../../functions/core/transform/data-tests';

/**
 * Contract: every transform SELECT is Trino SQL (Athena engine v3), as node-sql-parser's Trino
 * grammar reads it. The fidelity suite (test/integration/trino) runs them on a real Trino where
 * one can start; this check runs everywhere, in milliseconds.
 */
const SQL_DIR = path.resolve(__dirname, '../../../sql/transform');
const parser = new Parser();
const trino = (sql: string) => parser.astify(sql.replace(/^\s*--.*$/gm, ''), { database: 'trino' });

describe('sql/transform parses as Trino SQL', () => {
  const files = readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql'));
  it('has the 11 star tables', () => expect(files).toHaveLength(11));
  it.each(files)('%s', (file) => {
    expect(() => trino(readFileSync(path.join(SQL_DIR, file), 'utf8'))).not.toThrow();
  });
});

describe('generated SQL parses as Trino SQL', () => {
  it.each(SOURCE_TABLES.map((t) => t.name))('current-state merge of %s', (name) => {
    const table = SOURCE_TABLES.find((t) => t.name === name)!;
    expect(() => trino(currentStateSql(table, { hasPrevious: true }))).not.toThrow();
  });
  it('every data test', () => {
    for (const test of dataTests()) expect(() => trino(test.sql)).not.toThrow();
  });
});
