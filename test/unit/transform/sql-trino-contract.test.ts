import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from 'node-sql-parser';
import { currentStateSql } from '../../../functions/core/transform/current-state';
import { SOURCE_TABLES } from '../../../functions/core/contract/source-tables';
import { STAR_TABLES } from '../../../functions/core/contract/star-tables';
import type { ExtractManifest, TransformOutput } from '../../../functions/core/lake/manifests';
import type { QueryEngine } from '../../../functions/core/ports/query-engine';
import { dataTests, runDataTests } from '../../../functions/core/transform/data-tests';

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
  // The queries runDataTests builds from them (several tables' tests in one, each dimension looked
  // up once for every fact column that references it): a full batch, and a five-minute one whose
  // by-key dimension added a change set to a base and two earlier ones.
  it.each([
    ['a full batch', false],
    ['a five-minute batch with a by-key change set', true],
  ])("the data tests' queries of %s", async (_name, byKey) => {
    const queries: string[] = [];
    const engine = { query: async (sql: string) => (queries.push(sql), []) } as unknown as QueryEngine;
    const output = (name: string): TransformOutput => {
      const out: TransformOutput = { kind: 'fact', prefix: `star/${name}/b/`, files: [], rows: 0, origin: `sql/transform/${name}.sql`, sqlHash: 'h', bytesScanned: 0, elapsedMs: 0 };
      if (!byKey || name !== 'dim_transaction') return out;
      const change = (i: number) => ({ prefix: `changes/${name}/${i}/`, files: [], rows: 0 });
      return { ...out, changes: change(3), deltas: [change(1), change(2), change(3)] } as TransformOutput;
    };
    const staged = Object.fromEntries(STAR_TABLES.map((t) => [t.name, output(t.name)]));
    await runDataTests({ engine }, { tables: {} } as unknown as ExtractManifest, staged);
    expect(queries.length).toBeGreaterThan(0);
    for (const sql of queries) expect(() => trino(sql)).not.toThrow();
    expect(queries.join('\n')).toMatch(/AS looked_up FROM fact_sales_order UNION ALL .* AS v LEFT JOIN dim_date d ON v\.looked_up = d\.date_id/);
  });
});
