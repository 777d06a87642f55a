import { promises as fs } from 'node:fs';
import path from 'node:path';
import { currentViewSelect } from '../core/analysis/current-views';
import { parseStarModels, renderStarModelsModule, type StarModelFile } from '../core/contract/star-models';
import { STAR_MODELS } from '../core/contract/star-models.generated';
import { starPostgresType, type StarTable } from '../core/contract/star-tables';
import { readWarehouseMigrations } from '../core/load/warehouse-migrations';
import { readStarModelFiles, SQL_TRANSFORM_DIR } from '../core/transform/sql-files';
import { quoteIdent } from '../core/sql/sql-text';

/**
 * `npm run generate`: the star tables' models (`sql/transform/<table>.yml`) → everything that follows
 * from them and is checked in.
 *
 *  1. `functions/core/contract/star-models.generated.ts`, the star contract every stage, the stack
 *     (Glue tables), the load, the data tests and the docs import (star-tables.ts `STAR_TABLES`);
 *  2. when the models add a column to a table, the warehouse migration that adds it:
 *     `sql/warehouse/NNNN_<table>_<column>.sql` (ALTER TABLE … ADD COLUMN, and for a fact the
 *     `<fact>_current` view recreated with it), which the load applies like every migration.
 *
 * Why generated and checked in rather than applied by the load from the models: the warehouse's DDL
 * stays a reviewed, append-only list of files that a DBA can read and run (sql/warehouse/), each
 * applied once and recorded in `schema_migrations`; the change is visible in the diff that makes it;
 * and the Lambda, the stack and the tests compile against one contract instead of parsing YAML at
 * every start. The transform refuses to run when a model and the compiled contract disagree
 * (core/transform/sql-files.ts), so a forgotten `npm run generate` stops with this command named.
 *
 * The generator changes the warehouse only by adding columns at the end of a table (the only change
 * PostgreSQL makes in place and `CREATE OR REPLACE VIEW` follows) and by dropping or setting NOT
 * NULL. A dropped, renamed, retyped or reordered column, or a changed key, is refused with what to
 * do: write that migration by hand, then `npm run generate -- --hand-migrated` compiles the
 * contract without writing one (test/integration/load/warehouse-migrations.test.ts then checks the
 * migrations give the contract's tables on a real PostgreSQL).
 *
 * `--check` writes nothing and fails when anything would change.
 */

export const GENERATED_MODULE = path.join('functions', 'core', 'contract', 'star-models.generated.ts');

/** The model files of `<root>/sql/transform/`, with their paths relative to root. */
export function readRootModelFiles(root: string): Promise<StarModelFile[]> {
  return readStarModelFiles(path.join(root, SQL_TRANSFORM_DIR));
}

export interface WarehouseChange {
  /** Slug of the migration's file name, e.g. `fact_sales_order_gross_value`. */
  name: string;
  /** One line per change, for the migration's header and the generator's output. */
  summary: string[];
  sql: string;
}

/** A change to the models the generator will not migrate the warehouse for. */
export class UnsupportedChangeError extends Error {
  constructor(readonly changes: string[]) {
    super(
      `npm run generate cannot write the warehouse migration for:\n${changes.map((c) => `  - ${c}`).join('\n')}\n` +
        'It only adds columns at the end of a table and drops or sets NOT NULL. Write this migration by hand as ' +
        'sql/warehouse/NNNN_<what>.sql (the next number), then run `npm run generate -- --hand-migrated` to compile the contract; ' +
        'npx jest test/integration/load/warehouse-migrations.test.ts checks the tables the migrations make against it.',
    );
    this.name = 'UnsupportedChangeError';
  }
}

/**
 * The warehouse DDL that takes the tables of `previous` (what the migrations so far create) to those
 * of `next`, or undefined when they agree. Throws {@link UnsupportedChangeError} for a change it does
 * not write.
 */
export function warehouseChange(previous: readonly StarTable[], next: readonly StarTable[]): WarehouseChange | undefined {
  const unsupported: string[] = [];
  const statements: string[] = [];
  const summary: string[] = [];
  const added: string[] = [];
  for (const table of next) {
    const before = previous.find((t) => t.name === table.name);
    if (!before) {
      unsupported.push(`${table.name} is a new table`);
      continue;
    }
    if (before.kind !== table.kind || before.key.join() !== table.key.join() || before.surrogateKey !== table.surrogateKey) {
      unsupported.push(`${table.name}: its kind, key or surrogate key changed`);
    }
    const target = quoteIdent(table.name);
    before.columns.forEach((old, i) => {
      const now = table.columns[i];
      if (!now || now.name !== old.name) {
        const moved = table.columns.find((c) => c.name === old.name);
        unsupported.push(`${table.name}.${old.name} was ${moved ? 'moved' : 'dropped or renamed'}${now && !moved ? ` (${now.name} is in its place)` : ''}; a new column goes after the existing ones`);
      } else if (now.type !== old.type) {
        unsupported.push(`${table.name}.${old.name} changed type from ${old.type} to ${now.type}`);
      } else if (now.nullable !== old.nullable) {
        statements.push(`ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(now.name)} ${now.nullable ? 'DROP' : 'SET'} NOT NULL;`);
        summary.push(`${table.name}.${now.name} ${now.nullable ? 'may now be NULL' : 'is now NOT NULL'}`);
      }
    });
    const newColumns = table.columns.slice(before.columns.length).filter((c) => !before.columns.some((o) => o.name === c.name));
    for (const column of newColumns) {
      statements.push(`ALTER TABLE ${target} ADD COLUMN ${quoteIdent(column.name)} ${starPostgresType(column.type)};`);
      summary.push(`${table.name} gains ${column.name} (${column.type})`);
      added.push(`${table.name}_${column.name}`);
    }
    if (newColumns.length && table.kind === 'fact') {
      const view = { name: `${table.name}_current`, fact: table };
      statements.push(`CREATE OR REPLACE VIEW ${view.name} AS\n${currentViewSelect(view, 'warehouse')};`);
    }
  }
  for (const table of previous) if (!next.some((t) => t.name === table.name)) unsupported.push(`${table.name} was removed`);
  if (unsupported.length) throw new UnsupportedChangeError(unsupported);
  if (!statements.length) return undefined;
  const name = (added.length ? added.join('_') : 'star_nullability').slice(0, 60).replace(/_+$/, '');
  return { name, summary, sql: statements.join('\n\n') };
}

/** The text of the migration file for `change`, numbered `version`. */
export function migrationText(version: string, change: WarehouseChange, tables: readonly StarTable[]): string {
  const models = [...new Set(change.summary.map((s) => s.split(/[ .]/)[0]))].map((t) => `sql/transform/${t}.yml`);
  const backfills = tables.filter((t) => models.includes(`sql/transform/${t.name}.yml`) && t.kind === 'fact').map((t) => t.name);
  return [
    `-- Totes Lake warehouse, migration ${version.slice(0, 4)}: ${change.summary.join('; ')}.`,
    '--',
    `-- Generated by \`npm run generate\` (functions/build/generate-models.ts) from ${models.join(', ')}. Migrations`,
    '-- are never edited: a later change to the models writes a new one.',
    '-- A column added to a table that already holds rows is nullable here: those rows were loaded',
    '-- without it. The lake holds the model to its tests (a not_null column is tested on every row',
    `-- the transform writes)${backfills.length ? `, and \`totes backfill ${backfills.join(' ')}\` rebuilds every version with the new column` : ''}.`,
    '',
    change.sql,
    '',
  ].join('\n');
}

export interface GenerateResult {
  /** Files written (or, with `check`, that would be). */
  changed: string[];
  summary: string[];
}

/** Compiles the models under `root`; writes the contract module and a migration unless `check`. */
export async function generateModels(root: string, options: { check?: boolean; handMigrated?: boolean; previous?: readonly StarTable[] } = {}): Promise<GenerateResult> {
  const tables = parseStarModels(await readRootModelFiles(root));
  const moduleText = renderStarModelsModule(tables);
  const modulePath = path.join(root, GENERATED_MODULE);
  const current = await fs.readFile(modulePath, 'utf8').catch(() => '');
  const previous = options.previous ?? STAR_MODELS;
  const result: GenerateResult = { changed: [], summary: [] };
  // An empty previous contract is a first generation: the migrations so far already create the tables.
  const change = previous.length && !options.handMigrated ? warehouseChange(previous, tables) : undefined;
  if (change) {
    const migrations = await readWarehouseMigrations(root);
    const next = String(Number(migrations.at(-1)!.version.slice(0, 4)) + 1).padStart(4, '0');
    const version = `${next}_${change.name}`;
    const file = path.join('sql', 'warehouse', `${version}.sql`);
    result.changed.push(file);
    result.summary.push(...change.summary.map((s) => `${s} → ${file}`));
    if (!options.check) await fs.writeFile(path.join(root, file), migrationText(version, change, tables));
  }
  if (current !== moduleText) {
    result.changed.push(GENERATED_MODULE);
    if (!options.check) await fs.writeFile(modulePath, moduleText);
  }
  return result;
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check' && a !== '--hand-migrated');
  if (unknown.length) {
    console.error(`generate: unknown option ${unknown.join(' ')} (use --check, --hand-migrated)`);
    return 2;
  }
  const check = argv.includes('--check');
  const root = path.resolve(__dirname, '..', '..');
  try {
    const result = await generateModels(root, { check, handMigrated: argv.includes('--hand-migrated') });
    for (const line of result.summary) console.log(`  ${line}`);
    if (!result.changed.length) {
      console.log('generate: the star contract and the warehouse migrations agree with sql/transform/*.yml; nothing to do');
      return 0;
    }
    if (check) {
      console.error(`generate --check: ${result.changed.join(', ')} would change: run \`npm run generate\` and commit the result`);
      return 1;
    }
    console.log(`generate: wrote ${result.changed.join(', ')}`);
    return 0;
  } catch (err) {
    console.error(`generate: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
