import { existsSync } from 'node:fs';
import path from 'node:path';
import { SOURCE_TABLES } from '../../core/contract/source-tables';
import { STAR_TABLES } from '../../core/contract/star-tables';
import type { Log } from '../../core/ports/log';
import type { StatementRenderer } from '../../core/ports/query-engine';
import { compileNextBatch, type CompiledBatch, type CompiledStatement } from '../../core/transform/compile';
import { dependencyOrder } from '../../core/transform/sql-files';
import { AthenaRenderer } from '../../engines/athena/engine';
import { DuckDbRenderer } from '../../engines/duckdb/engine';
import { TrinoRenderer } from '../../engines/trino/engine';
import { FolderObjectStore } from '../../local/folder-object-store';
import { parseCommand, UsageError, type CommonOptions } from '../cli-options';
import { REPO_ROOT } from '../local-context';

export const COMPILE_HELP = `totes compile [table…] [--engine duckdb|trino|athena] [--json]
  Prints the SQL the transform would send for the next batch, exactly as the engine would get it,
  and runs none of it (nothing is written). Each statement has a header: the table, the engine,
  what it is (current-state merge or delta, the model file sql/transform/<table>.sql and its
  sha256, a dimension change set, a data test…), the location it writes and its lineage columns.
  The tables: star tables (their statements and the current-state statements of their sources) or
  current_<source table>; default all, in the order the transform sends them (current states,
  dimensions, facts, data tests). No batch waiting: the newest extracted batch as the transform ran
  it. --engine trino or athena renders their SQL without a server (Athena's Glue databases shown as
  totes_raw / totes_processed); default the engine \`totes run\` uses (duckdb). With --aws: the
  deployed lake's next batch, in Athena's SQL with the stack's Glue databases and S3 locations.`;

/** The names `totes compile` takes: star tables in dependency order, then the current states. */
export const COMPILE_TABLES: readonly string[] = [...dependencyOrder(STAR_TABLES).map((t) => t.name), ...SOURCE_TABLES.map((t) => `current_${t.name}`)];

export async function compileCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { positionals, common } = parseCommand(argv, {}, { renderOnly: true });
  makeLog(common.json, common.verbose);
  checkCompileTables(positionals);
  // Compile writes nothing, not even the lake folder's marker: a missing lake is only reported.
  if (!existsSync(path.join(common.lake, '.totes-lake')) || !existsSync(path.join(common.lake, 'ingestion'))) {
    throw new Error(`No lake at ${common.lake} yet: run \`totes run\` (or \`npm start\`) first, then compile (or give --lake DIR)`);
  }
  const ingestion = new FolderObjectStore(path.join(common.lake, 'ingestion'));
  const processed = new FolderObjectStore(path.join(common.lake, 'processed'));
  const batch = await compileNextBatch({ ingestion, processed, sqlRoot: REPO_ROOT }, renderer(common, ingestion, processed));
  writeCompiled(batch, positionals, common.json);
  return 0;
}

/** Refuses a name that is not a table the transform builds, listing those that are. */
export function checkCompileTables(tables: readonly string[]): void {
  const unknown = tables.filter((t) => !COMPILE_TABLES.includes(t));
  if (unknown.length) throw new UsageError(`Not a table the transform builds: ${unknown.join(', ')} (the tables are ${COMPILE_TABLES.join(', ')})`);
}

/** Prints the statements of the named tables (all when none is named), as SQL text or JSON. */
export function writeCompiled(batch: CompiledBatch, tables: readonly string[], json: boolean): void {
  const statements = selectStatements(batch.statements, tables);
  if (json) process.stdout.write(`${JSON.stringify({ ...batch, statements }, null, 2)}\n`);
  else process.stdout.write(formatCompiled({ ...batch, statements }, tables));
}

function renderer(common: CommonOptions, ingestion: FolderObjectStore, processed: FolderObjectStore): StatementRenderer {
  if (common.engine === 'trino') return new TrinoRenderer({ ingestion, processed });
  if (common.engine === 'athena') return new AthenaRenderer({ namespace: { rawDatabase: 'totes_raw', processedDatabase: 'totes_processed' }, processed });
  return new DuckDbRenderer(ingestion, processed);
}

/**
 * The statements of the named tables (all when none is named): a star table's own, and the
 * current-state statements of its sources (what its SQL file reads).
 */
export function selectStatements(statements: readonly CompiledStatement[], tables: readonly string[]): CompiledStatement[] {
  if (!tables.length) return [...statements];
  const wanted = new Set(tables);
  for (const name of tables) for (const source of STAR_TABLES.find((t) => t.name === name)?.sources ?? []) wanted.add(`current_${source}`);
  return statements.filter((s) => s.tables.some((t) => wanted.has(t)));
}

/** The statements as SQL text: a header comment each, the text as sent, then a line holding only `;`. */
export function formatCompiled(batch: CompiledBatch, tables: readonly string[]): string {
  const out: string[] = [];
  out.push(`-- totes compile: batch ${batch.batchId} (seq ${batch.seq}${batch.pending ? ', the next the transform runs' : ', none waiting'}), engine ${batch.engine}`);
  out.push(`-- tables: ${tables.length ? tables.join(', ') : 'all, in the order the transform sends their statements'}`);
  for (const note of batch.notes) out.push(...comment(`note: ${note}`));
  if (!batch.statements.length) out.push('-- (the batch sends no statement for these tables)');
  const calls = [...new Set(batch.statements.map((s) => s.call))];
  for (const [i, call] of calls.entries()) {
    const group = batch.statements.filter((s) => s.call === call);
    const [s] = group;
    const tables = s.tables.length > 3 ? `${s.tables.length} tables (${s.tables.join(', ')})` : s.tables.join(', ') || '(no table)';
    out.push('', `-- ==== [${i + 1}/${calls.length}] ${tables} · engine ${batch.engine}`, ...comment(`step: ${s.step}`));
    if (s.origin) out.push(`-- source: ${s.origin}${s.sqlHash ? ` (sha256 ${s.sqlHash})` : ''}`);
    if (s.prefix) out.push(`-- writes: ${s.prefix}`);
    if (s.lineage) out.push(`-- lineage: ${s.lineage}`);
    for (const [n, statement] of group.entries()) {
      out.push(...comment(`statement ${n + 1} of ${group.length}: ${statement.role}`));
      statement.params?.forEach((p, k) => out.push(...comment(`  $${k + 1} = ${p}`)));
      out.push(statement.sql, ';');
    }
  }
  return `${out.join('\n')}\n`;
}

function comment(text: string): string[] {
  return text.split('\n').map((line) => `-- ${line}`);
}
