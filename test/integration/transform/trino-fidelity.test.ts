import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { BATCH_ID_COLUMN, duckdbType, SOURCE_TABLES, trinoType, type SourceTable } from '../../../functions/core/contract/source-tables';
import { starDuckdbType, STAR_TABLES, type StarTable } from '../../../functions/core/contract/star-tables';
import { currentStateSql } from '../../../functions/core/transform/current-state';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { lakeTrinoType } from '../../../functions/core/transform/transform';
import { duckdbTypeOfTrino } from '../../../functions/local/duckdb-engine';
import { DUCKDB_TRINO_MACROS } from '../../../functions/local/duckdb-trino-macros';
import { TrinoClient } from '../../../functions/trino/trino-client';
import { startTrino, trinoSkipReason, type TrinoTestServer } from '../../support/trino-server';
import { REPO_ROOT, type RawRow } from './raw-lake';
import { batchOne, batchTwo } from './totesys-rows';

/**
 * Fidelity: every sql/transform file, and the generated current-state merge, gives the same rows
 * on a real Trino server as on DuckDB (with its macros). The relations a file reads are inlined as
 * typed VALUES in front of it, so this checks the SQL's meaning alone, independent of any engine
 * adapter's file handling. Skipped when Trino cannot run here (trinoSkipReason says why).
 */

const skip = trinoSkipReason();
const suite = skip ? describe.skip : describe;
if (skip) console.warn(`Trino fidelity tests skipped: ${skip}`);

type Engine = 'trino' | 'duckdb';

function literal(value: RawRow[string], type: string, engine: Engine): string {
  const sqlType = engine === 'trino' ? trinoType(type as never) : duckdbType(type as never);
  if (value === null) return `CAST(NULL AS ${sqlType})`;
  if (typeof value === 'number' && type === 'integer') return String(value);
  if (typeof value === 'boolean') return String(value);
  return `CAST('${String(value).replace(/'/g, "''")}' AS ${sqlType})`;
}

/** A CTE binding `name` to the rows, typed by the contract (+ `_batch_id`). */
function relation(name: string, table: SourceTable, rows: RawRow[], engine: Engine): string {
  const columns = [...table.columns.map((c) => ({ name: c.name, type: c.type as string })), { name: BATCH_ID_COLUMN, type: 'text' }];
  if (!rows.length) {
    return `${name} AS (SELECT ${columns.map((c) => `${literal(null, c.type, engine)} AS ${c.name}`).join(', ')} WHERE false)`;
  }
  const values = rows.map((row) => `(${columns.map((c) => literal(row[c.name] ?? (c.name === BATCH_ID_COLUMN ? 'b1' : null), c.type, engine)).join(', ')})`);
  return `${name} AS (SELECT * FROM (VALUES ${values.join(', ')}) AS v (${columns.map((c) => c.name).join(', ')}))`;
}

function emptyStar(table: StarTable, engine: Engine): string {
  const cols = table.columns.map((c) => `CAST(NULL AS ${engine === 'trino' ? lakeTrinoType(c.type) : starDuckdbType(c.type)}) AS ${c.name}`);
  return `${table.name} AS (SELECT ${cols.join(', ')} WHERE false)`;
}

/** The statement with its relations inlined and its columns cast to the lake types, as engines do. */
function statement(select: string, ctes: string[], columns: { name: string; trinoType: string }[], engine: Engine): string {
  const body = select.replace(/[\s;]+$/, '');
  const casts = columns.map((c) => `CAST(${c.name} AS ${engine === 'trino' ? c.trinoType : duckdbTypeOfTrino(c.trinoType)}) AS ${c.name}`);
  return `WITH ${[...ctes, `result_rows AS (\n${body}\n)`].join(',\n')}\nSELECT ${casts.join(', ')} FROM result_rows`;
}

/** Timestamps in one text form: DuckDB's JSON drops a zero fraction ('10:00:00'), Trino keeps '.000'. */
const canonical = (value: unknown): unknown => {
  if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(value)) return value;
  const [whole, fraction = ''] = value.split('.');
  return `${whole}.${fraction.padEnd(3, '0')}`;
};
const sortRows = (rows: unknown[][]): string[] => rows.map((r) => JSON.stringify(r.map(canonical))).sort();

suite('transform SQL on Trino and DuckDB', () => {
  let trino: TrinoTestServer;
  let client: TrinoClient;
  let db: DuckDBInstance;
  let duck: DuckDBConnection;

  beforeAll(async () => {
    trino = await startTrino();
    client = new TrinoClient({ url: trino.url, catalog: trino.catalog, schema: trino.schema, timeZone: 'UTC' });
    db = await DuckDBInstance.create(':memory:');
    duck = await db.connect();
    for (const macro of DUCKDB_TRINO_MACROS) await duck.run(macro.sql);
  }, 300_000);
  afterAll(async () => {
    duck?.closeSync();
    db?.closeSync();
    await trino?.stop();
  });

  async function both(build: (engine: Engine) => string): Promise<{ trino: string[]; duckdb: string[] }> {
    const t = await client.execute(build('trino'), 'fidelity');
    const d = (await duck.runAndReadAll(build('duckdb'))).getRowsJson();
    return { trino: sortRows(t.rows), duckdb: sortRows(d as unknown[][]) };
  }

  it('every star SQL file gives the same rows', async () => {
    const files = await loadSqlFiles(REPO_ROOT);
    for (const file of files) {
      const build = (engine: Engine): string => {
        const ctes = SOURCE_TABLES.flatMap((table) => [
          relation(`batch_${table.name}`, table, batchOne[table.name] ?? [], engine),
          relation(`current_${table.name}`, table, [...(batchOne[table.name] ?? []), ...(batchTwo[table.name] ?? [])], engine),
        ]);
        ctes.push(emptyStar(STAR_TABLES.find((t) => t.name === 'dim_date')!, engine));
        const columns = file.table.columns.map((c) => ({ name: c.name, trinoType: lakeTrinoType(c.type) }));
        return statement(file.sql, ctes, columns, engine);
      };
      const result = await both(build);
      expect(result.trino.length).toBeGreaterThan(0);
      expect({ file: file.origin, rows: result.trino }).toEqual({ file: file.origin, rows: result.duckdb });
    }
  });

  it('the generated current-state merge gives the same rows', async () => {
    for (const table of SOURCE_TABLES) {
      const previous = (batchOne[table.name] ?? []).map((r) => ({ ...r, _batch_id: 'b1' }));
      const batch = (batchTwo[table.name] ?? []).map((r) => ({ ...r, _batch_id: 'b2' }));
      const build = (engine: Engine): string =>
        statement(
          currentStateSql(table, { hasPrevious: true }),
          [relation(`previous_${table.name}`, table, previous, engine), relation(`batch_${table.name}`, table, batch, engine)],
          [...table.columns.map((c) => ({ name: c.name, trinoType: trinoType(c.type) })), { name: BATCH_ID_COLUMN, trinoType: 'varchar' }],
          engine,
        );
      const result = await both(build);
      expect({ table: table.name, rows: result.trino }).toEqual({ table: table.name, rows: result.duckdb });
    }
  });
});
