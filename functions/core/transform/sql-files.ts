import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseStarModels, type StarModelFile } from '../contract/star-models';
import { STAR_TABLES, type StarTable } from '../contract/star-tables';

/**
 * The transform's SQL files: `sql/transform/<star table>.sql`, one SELECT per star table.
 *
 * The content hash of a file is its version: every output records the hash of the SQL that built
 * it, so a changed file is visible in the lake's lineage. The folder must hold exactly one file per
 * star table of the contract: a missing file would leave a table unbuilt and an extra one would
 * never run, so both stop the transform before it writes anything.
 *
 * Beside each SQL file is the table's model, `<star table>.yml` (columns, key, data tests:
 * functions/core/contract/star-models.ts), which `npm run generate` compiles into the star contract
 * this code runs with. A model that says something else than the compiled contract (a column added
 * to the model and the SQL, but the generator not run) stops the transform too, naming the command:
 * the tables would otherwise be written, tested and loaded with the old columns.
 */

export const SQL_TRANSFORM_DIR = path.join('sql', 'transform');

export interface SqlFile {
  table: StarTable;
  /** Path relative to the SQL root, e.g. `sql/transform/dim_staff.sql` (for messages and lineage). */
  origin: string;
  /** The whole file, header comment included (what the engine runs). */
  sql: string;
  /** sha256 of the file's bytes, hex: the SQL version. */
  sqlHash: string;
  /** The header comment without its `-- ` markers, for docs and the catalog. */
  header: string;
  /** One line saying what the file builds: the header's first line after `<table>:`. */
  description: string;
}

/**
 * Loads every transform SQL file from `<sqlRoot>/sql/transform/`, in dependency order: dimensions
 * first, then facts (the order of the star contract). Throws when a file is missing, extra, or
 * lacks its header.
 */
export async function loadSqlFiles(sqlRoot: string): Promise<SqlFile[]> {
  const dir = path.join(sqlRoot, SQL_TRANSFORM_DIR);
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    throw new Error(`Cannot read the transform SQL folder ${dir} (${(err as Error).message}); sqlRoot must be the directory that contains sql/`);
  }
  const names = entries.filter((name) => name.endsWith('.sql'));
  const expected = new Set(STAR_TABLES.map((t) => `${t.name}.sql`));
  const missing = [...expected].filter((name) => !names.includes(name));
  const extra = names.filter((name) => !expected.has(name));
  if (missing.length || extra.length) {
    throw new Error(
      `${dir} must hold exactly one SQL file per star table of the contract (functions/core/contract/star-tables.ts)` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        (extra.length ? `; not in the contract: ${extra.join(', ')} (add the table to the contract or remove the file)` : ''),
    );
  }
  checkModels(await readStarModelFiles(dir, entries));
  return Promise.all(dependencyOrder(STAR_TABLES).map(async (table) => parseSqlFile(table, await fs.readFile(path.join(dir, `${table.name}.sql`)))));
}

/**
 * The model files (`*.yml`) among `entries` of the transform SQL folder `dir` (all of its entries
 * when not given), named by their path under the SQL root.
 */
export async function readStarModelFiles(dir: string, entries?: readonly string[]): Promise<StarModelFile[]> {
  const names = (entries ?? (await fs.readdir(dir))).filter((name) => name.endsWith('.yml')).sort();
  return Promise.all(names.map(async (name) => ({ origin: `sql/transform/${name}`, text: await fs.readFile(path.join(dir, name), 'utf8') })));
}

/**
 * The model texts last found equal to the compiled star contract (the files' origins and texts, as
 * one string). The transform loads its SQL folder every run, up to every five minutes in one
 * process (`totes run --every`, a warm Lambda), and parsing the YAML is most of that (issue 14,
 * item 1): the same texts give the same verdict, so only changed texts are parsed again.
 */
let modelsMatching: string | undefined;

/** Throws when the models beside the SQL files differ from the compiled star contract. */
function checkModels(files: readonly StarModelFile[]): void {
  const texts = JSON.stringify(files.map((f) => [f.origin, f.text]));
  if (texts === modelsMatching) return;
  const models = parseStarModels(files);
  const differing = models.flatMap((model) => {
    const compiled = STAR_TABLES.find((t) => t.name === model.name);
    if (compiled && JSON.stringify(compiled) === JSON.stringify(model)) return [];
    const had = new Set(compiled?.columns.map((c) => c.name));
    const has = new Set(model.columns.map((c) => c.name));
    const added = [...has].filter((c) => !had.has(c));
    const dropped = [...had].filter((c) => !has.has(c));
    const detail = [added.length ? `adds ${added.join(', ')}` : '', dropped.length ? `drops ${dropped.join(', ')}` : ''].filter(Boolean).join(', ');
    return [`sql/transform/${model.name}.yml${detail ? ` (${detail})` : ''}`];
  });
  if (differing.length) {
    throw new Error(
      `${differing.join(', ')} ${differing.length > 1 ? 'differ' : 'differs'} from the star contract this code was generated with ` +
        '(functions/core/contract/star-models.generated.ts): run `npm run generate`, which compiles the models and writes the warehouse ' +
        'migration a new column needs, then commit what it wrote (README.md, "Changing a model")',
    );
  }
  modelsMatching = texts;
}

/** Dimensions before facts, each group in contract order: a fact may reference any dimension. */
export function dependencyOrder(tables: readonly StarTable[]): StarTable[] {
  return [...tables.filter((t) => t.kind === 'dimension'), ...tables.filter((t) => t.kind === 'fact')];
}

export function parseSqlFile(table: StarTable, bytes: Uint8Array): SqlFile {
  const origin = path.posix.join('sql', 'transform', `${table.name}.sql`);
  const sql = Buffer.from(bytes).toString('utf8');
  const headerLines: string[] = [];
  for (const line of sql.split(/\r?\n/)) {
    const m = /^\s*--\s?(.*)$/.exec(line);
    if (!m) break;
    headerLines.push(m[1].trimEnd());
  }
  const first = headerLines[0] ?? '';
  const prefix = `${table.name}:`;
  if (!first.startsWith(prefix) || !first.slice(prefix.length).trim()) {
    throw new Error(`${origin} must start with a header comment whose first line is "-- ${table.name}: <what it builds>"`);
  }
  if (!/\bselect\b/i.test(sql.split(/\r?\n/).slice(headerLines.length).join('\n'))) {
    throw new Error(`${origin} holds no SELECT after its header comment`);
  }
  return {
    table,
    origin,
    sql,
    sqlHash: sha256(bytes),
    header: headerLines.join('\n'),
    description: first.slice(prefix.length).trim(),
  };
}

export function sha256(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}
