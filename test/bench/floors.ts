import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { duckdbType, SOURCE_TABLES } from '../../functions/core/contract/source-tables';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import { runMeasured } from './measured-process';

/**
 * The physical floors the pipeline is compared with: the least work the machine must do to move
 * the same rows through the same formats, with the stock tools and nothing of Totes Lake.
 *  - source → JSON lines: `psql \copy (SELECT json_build_object(…) FROM t) TO file`, every column,
 *    timestamps as the extract renders them; no ordering, no compression, no batch id;
 *  - JSON lines → Parquet: DuckDB `read_json` with the contract's column types, `COPY … TO` zstd Parquet;
 *  - star rows → warehouse: `psql \copy t (cols) FROM file CSV` into tables shaped like the
 *    warehouse's (LIKE … INCLUDING ALL: same keys, indexes, identity), each in its own schema.
 */
export interface FloorResult {
  seconds: number;
  rows: number;
  peakRssMb: number;
}

const q = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a contract identifier: ${name}`);
  return `"${name}"`;
};

/** The same JSON object per row as the extract's window SELECT (functions/core/extract/extract-window.ts). */
export function jsonSelect(table: (typeof SOURCE_TABLES)[number]): string {
  const fields = table.columns.map((c) => {
    const col = q(c.name);
    const value = c.type === 'timestamp(3)' ? `to_char(${col}, 'YYYY-MM-DD HH24:MI:SS.MS')` : c.type.startsWith('enum:') ? `${col}::text` : col;
    return `'${c.name}', ${value}`;
  });
  return `SELECT json_build_object(${fields.join(', ')})::text FROM ${q(table.name)}`;
}

export async function floorSourceToJson(sourceUrl: string, dir: string): Promise<FloorResult & { files: Record<string, string> }> {
  await fs.mkdir(dir, { recursive: true });
  const files: Record<string, string> = {};
  const lines = SOURCE_TABLES.map((t) => {
    files[t.name] = path.join(dir, `${t.name}.ndjson`);
    return `\\copy (${jsonSelect(t)}) TO '${files[t.name]}'`;
  });
  const script = path.join(dir, 'floor-copy-out.sql');
  await fs.writeFile(script, `${lines.join('\n')}\n`);
  const run = await runMeasured('psql', [sourceUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script]);
  let rows = 0;
  for (const file of Object.values(files)) rows += await countLines(file);
  return { seconds: run.wallMs / 1000, rows, peakRssMb: run.peakRssMb, files };
}

export async function floorJsonToParquet(files: Record<string, string>, dir: string): Promise<FloorResult> {
  await fs.mkdir(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const started = performance.now();
    let rows = 0;
    for (const table of SOURCE_TABLES) {
      const struct = table.columns.map((c) => `${q(c.name)}: '${duckdbType(c.type)}'`).join(', ');
      const reader = await connection.runAndReadAll(
        `COPY (SELECT * FROM read_json($1, format = 'newline_delimited', columns = {${struct}})) TO $2 (FORMAT parquet, COMPRESSION zstd)`,
        [files[table.name], path.join(dir, `${table.name}.parquet`)],
      );
      rows += Number(reader.getRowObjectsJson()[0]?.Count ?? 0);
    }
    return { seconds: (performance.now() - started) / 1000, rows, peakRssMb: 0 };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Exports the warehouse's star rows to CSV (untimed), then times `\copy … FROM` into look-alike tables. */
export async function floorCopyIn(warehouseUrl: string, dir: string, schema = 'floor_copy'): Promise<FloorResult> {
  await fs.mkdir(dir, { recursive: true });
  const client = new pg.Client({ connectionString: warehouseUrl });
  await client.connect();
  const lines: string[] = [];
  const exports: string[] = [];
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    await client.query(`CREATE SCHEMA ${q(schema)}`);
    for (const table of STAR_TABLES) {
      const cols = table.columns.map((c) => q(c.name)).join(', ');
      const file = path.join(dir, `${table.name}.csv`);
      await client.query(`CREATE TABLE ${q(schema)}.${q(table.name)} (LIKE public.${q(table.name)} INCLUDING ALL)`);
      exports.push(`\\copy (SELECT ${cols} FROM public.${q(table.name)}) TO '${file}' CSV`);
      lines.push(`\\copy ${q(schema)}.${q(table.name)} (${cols}) FROM '${file}' CSV`);
    }
  } finally {
    await client.end();
  }
  const exportScript = path.join(dir, 'floor-export.sql');
  await fs.writeFile(exportScript, `${exports.join('\n')}\n`);
  await runMeasured('psql', [warehouseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', exportScript]);
  const script = path.join(dir, 'floor-copy-in.sql');
  await fs.writeFile(script, `${lines.join('\n')}\n`);
  const run = await runMeasured('psql', [warehouseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script]);
  let rows = 0;
  for (const table of STAR_TABLES) rows += await countLines(path.join(dir, `${table.name}.csv`));
  return { seconds: run.wallMs / 1000, rows, peakRssMb: run.peakRssMb };
}

/**
 * The naive baseline: `sample` fact_sales_order rows inserted one INSERT per row, autocommit, as a
 * hand-built pipeline does, into a look-alike table. Returns rows per second.
 */
export async function naiveInsertRate(warehouseUrl: string, sample: number, schema = 'naive'): Promise<{ rows: number; seconds: number; rowsPerS: number }> {
  const table = STAR_TABLES.find((t) => t.name === 'fact_sales_order')!;
  const cols = table.columns.map((c) => q(c.name));
  const client = new pg.Client({ connectionString: warehouseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    await client.query(`CREATE SCHEMA ${q(schema)}`);
    await client.query(`CREATE TABLE ${q(schema)}.${q(table.name)} (LIKE public.${q(table.name)} INCLUDING ALL)`);
    const rows = await client.query({ text: `SELECT ${cols.map((c) => `${c}::text`).join(', ')} FROM public.${q(table.name)} LIMIT $1`, values: [sample], rowMode: 'array' });
    const insert = `INSERT INTO ${q(schema)}.${q(table.name)} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`;
    const started = performance.now();
    for (const row of rows.rows as unknown[][]) await client.query(insert, row);
    const seconds = (performance.now() - started) / 1000;
    return { rows: rows.rows.length, seconds, rowsPerS: rows.rows.length / seconds };
  } finally {
    await client.end();
  }
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  const handle = await fs.open(file);
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 })) {
      const buf = chunk as Buffer;
      for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
    }
  } finally {
    await handle.close();
  }
  return n;
}
