import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { SOURCE_TABLE_NAMES, type SourceTableName } from './source-tables';
import { STAR_TABLE_NAMES, STAR_TYPES, type StarColumn, type StarTable, type StarTableName, type StarType } from './star-tables';

/**
 * A star table's model file: `sql/transform/<table>.yml`, beside the SQL file that builds the table.
 * It declares, once, what the rest of the project derives from it: the columns (name, type,
 * description), the key, and the data tests the table must pass, in the manner of a dbt
 * `schema.yml`. An analyst reads and changes it without TypeScript:
 *
 * ```yaml
 * name: fact_sales_order
 * kind: fact                      # or dimension
 * description: One row per version of each sales order.
 * key: [sales_order_id, last_updated_date, last_updated_time]
 * surrogate_key: sales_record_id  # facts: the warehouse's identity column
 * sources: [sales_order]          # source tables whose change changes this table
 * tests:
 *   - unique: [sales_order_id, last_updated_date, last_updated_time]
 *   - one_row_per_version_of: sales_order
 * columns:
 *   - name: sales_staff_id
 *     type: integer               # integer, text, date, time, numeric(10,2), boolean
 *     description: Salesperson; key of dim_staff.
 *     tests: [not_null, relationships: {to: dim_staff}]
 * ```
 *
 * Column tests: `not_null` (absent: the column may be NULL), `relationships: {to: <dimension>}` (every
 * non-NULL value is a key of that dimension), `accepted_values: {values: [...]}`. Table tests:
 * `unique: [...]` (the key: required, and equal to `key`), `one_row_per_version_of: <source table>`
 * (a fact: one row per distinct version of that table the batch extracted). Dimensions may say
 * `by_key: true` or `grows_only: true` (functions/core/contract/star-tables.ts says what they promise).
 *
 * `npm run generate` (functions/build/generate-models.ts) compiles the files into
 * `functions/core/contract/star-models.generated.ts`, the star contract every stage imports, and writes
 * the warehouse migration a new column needs. {@link parseStarModels} is the one reader: the generator
 * and the transform's check that the files and the compiled contract agree (sql-files.ts) both use it.
 */

/** A model file that does not say what it must, with every problem found (file:line: where: what). */
export class StarModelError extends Error {
  constructor(readonly problems: string[]) {
    super(`The star table models in sql/transform/*.yml are not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StarModelError';
  }
}

export interface StarModelFile {
  /** Path shown in messages, e.g. `sql/transform/dim_staff.yml`. */
  origin: string;
  text: string;
}

const TABLE_FIELDS = ['name', 'kind', 'description', 'key', 'surrogate_key', 'sources', 'by_key', 'grows_only', 'tests', 'columns'];
const COLUMN_FIELDS = ['name', 'type', 'description', 'tests'];
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Parses and checks every model file (all of them: a relationship names another model), returning the
 * star tables in the order of `STAR_TABLE_NAMES`. Throws a {@link StarModelError} listing every problem.
 */
export function parseStarModels(files: readonly StarModelFile[]): StarTable[] {
  const problems: string[] = [];
  const parsed = files.map((file) => readModel(file, problems));
  const kinds = new Map(parsed.filter((m) => m).map((m) => [m!.table.name, m!.table.kind]));
  for (const model of parsed) if (model) checkReferences(model, kinds, problems);
  const names = parsed.flatMap((m) => (m ? [m.table.name] : []));
  for (const name of STAR_TABLE_NAMES) {
    if (!names.includes(name) && !files.some((f) => f.origin.endsWith(`/${name}.yml`))) problems.push(`sql/transform/${name}.yml: missing (every star table has a model file beside its SQL)`);
  }
  if (problems.length) throw new StarModelError(problems);
  return STAR_TABLE_NAMES.map((name) => parsed.find((m) => m?.table.name === name)!.table);
}

interface ReadModel {
  table: StarTable;
  file: StarModelFile;
  where: (path: (string | number)[]) => string;
}

function readModel(file: StarModelFile, problems: string[]): ReadModel | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) problems.push(`${file.origin}:${lines.linePos(err.pos[0]).line}: ${err.message.split('\n')[0]}`);
  if (doc.errors.length) return undefined;
  const where = (path: (string | number)[]): string => {
    const node = nodeAt(doc, path);
    const line = node?.range ? lines.linePos(node.range[0]).line : undefined;
    return `${file.origin}${line ? `:${line}` : ''}: ${path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : 'the file'}`;
  };
  const before = problems.length;
  const fail = (path: (string | number)[], message: string): undefined => {
    problems.push(`${where(path)}: ${message}`);
    return undefined;
  };
  const raw = doc.toJS() as unknown;
  if (!isRecord(raw)) return fail([], 'must be a mapping with name, kind, description, key, sources, tests and columns');
  unknownFields(raw, TABLE_FIELDS, [], fail);

  const expectedName = /\/([a-z_0-9]+)\.yml$/.exec(file.origin)?.[1];
  const name = text(raw.name, ['name'], fail);
  if (name !== undefined && name !== expectedName) fail(['name'], `is "${name}" but the file is ${file.origin}: a model is named after its file`);
  if (name !== undefined && !(STAR_TABLE_NAMES as readonly string[]).includes(name)) {
    fail(['name'], `"${name}" is not a star table of functions/core/contract/star-tables.ts (STAR_TABLE_NAMES: ${STAR_TABLE_NAMES.join(', ')}); a new table is added there first`);
  }
  const kind = raw.kind === 'fact' || raw.kind === 'dimension' ? raw.kind : fail(['kind'], `must be fact or dimension, not ${show(raw.kind)}`);
  const description = text(raw.description, ['description'], fail);
  const key = identList(raw.key, ['key'], fail, true);
  const sources = identList(raw.sources, ['sources'], fail, true);
  sources?.forEach((s, i) => {
    if (!(SOURCE_TABLE_NAMES as readonly string[]).includes(s)) fail(['sources', i], `"${s}" is not a source table (functions/core/contract/source-tables.ts: ${SOURCE_TABLE_NAMES.join(', ')})`);
  });
  let surrogateKey: string | undefined;
  if (kind === 'fact') {
    surrogateKey = raw.surrogate_key === undefined ? fail([], 'a fact needs surrogate_key: the warehouse identity column that numbers its versions') : ident(raw.surrogate_key, ['surrogate_key'], fail);
  } else if (raw.surrogate_key !== undefined) fail(['surrogate_key'], 'only a fact has a surrogate key (a dimension is keyed by its natural id)');
  const flag = (field: 'by_key' | 'grows_only'): boolean | undefined => {
    const value = raw[field];
    if (value === undefined || value === false) return undefined;
    if (value !== true) return fail([field], `must be true or false, not ${show(value)}`);
    if (kind === 'fact') return fail([field], 'applies to a dimension only');
    return true;
  };
  const byKey = flag('by_key');
  const growsOnly = flag('grows_only');

  const columns: StarColumn[] = [];
  if (!Array.isArray(raw.columns) || raw.columns.length === 0) fail(['columns'], 'must list the table\'s columns, each with name, type, description and tests');
  else {
    raw.columns.forEach((col: unknown, i: number) => {
      const column = readColumn(col, ['columns', i], fail);
      if (!column) return;
      if (columns.some((c) => c.name === column.name)) fail(['columns', i, 'name'], `"${column.name}" is declared twice`);
      else columns.push(column);
    });
  }
  const columnNames = new Set(columns.map((c) => c.name));
  key?.forEach((k, i) => {
    if (columns.length && !columnNames.has(k)) fail(['key', i], `"${k}" is not a column of the table`);
    else if (columns.find((c) => c.name === k)?.nullable) fail(['key', i], `"${k}" is a key column: its tests must include not_null`);
  });
  if (surrogateKey && columnNames.has(surrogateKey)) fail(['surrogate_key'], `"${surrogateKey}" is the warehouse's own column: it must not be a column of the lake table`);

  let versionsOf: SourceTableName | undefined;
  let unique = false;
  if (!Array.isArray(raw.tests)) fail(['tests'], 'must list the table tests: at least unique: [<the key>]');
  else {
    raw.tests.forEach((test: unknown, i: number) => {
      const [testName, arg] = testOf(test);
      if (testName === 'unique') {
        const cols = identList(arg, ['tests', i, 'unique'], fail, true);
        if (cols && key && cols.join(',') !== key.join(',')) fail(['tests', i, 'unique'], `tests the columns ${cols.join(', ')}; the key is ${key.join(', ')}: the unique test is the key's`);
        unique = true;
      } else if (testName === 'one_row_per_version_of') {
        if (kind !== 'fact') fail(['tests', i], 'one_row_per_version_of applies to a fact (one row per version of its source row)');
        else if (typeof arg !== 'string' || !(sources ?? []).includes(arg)) fail(['tests', i, 'one_row_per_version_of'], `must name one of the table's sources (${(sources ?? []).join(', ')}), not ${show(arg)}`);
        else versionsOf = arg as SourceTableName;
      } else fail(['tests', i], `${show(testName ?? test)} is not a table test (unique: [...], one_row_per_version_of: <source>); column tests go under the column`);
    });
    if (!unique) fail(['tests'], 'needs unique: [<the key>]: every star table is tested for one row per key');
  }
  if (problems.length > before || !name || !kind || description === undefined || !key || !sources) return undefined;
  const table: StarTable = {
    name: name as StarTableName,
    kind,
    description,
    key,
    ...(surrogateKey ? { surrogateKey } : {}),
    sources,
    ...(byKey ? { byKey } : {}),
    ...(growsOnly ? { growsOnly } : {}),
    ...(versionsOf ? { versionsOf } : {}),
    columns,
  };
  return { table, file, where };
}

type Fail = (path: (string | number)[], message: string) => undefined;

function readColumn(col: unknown, path: (string | number)[], fail: Fail): StarColumn | undefined {
  if (!isRecord(col)) return fail(path, 'must be a mapping with name, type, description and tests');
  unknownFields(col, COLUMN_FIELDS, path, fail);
  const name = ident(col.name, [...path, 'name'], fail);
  const type = (STAR_TYPES as readonly unknown[]).includes(col.type) ? (col.type as StarType) : fail([...path, 'type'], `must be one of ${STAR_TYPES.join(', ')}, not ${show(col.type)}`);
  const description = text(col.description, [...path, 'description'], fail);
  let notNull = false;
  let references: StarTableName | undefined;
  let accepted: (string | number)[] | undefined;
  const tests = col.tests === undefined ? [] : col.tests;
  if (!Array.isArray(tests)) fail([...path, 'tests'], 'must be a list, e.g. [not_null]');
  else {
    tests.forEach((test: unknown, i: number) => {
      const [testName, arg] = testOf(test);
      const at = [...path, 'tests', i];
      if (testName === 'not_null' && arg === undefined) notNull = true;
      else if (testName === 'relationships') {
        const to = isRecord(arg) ? arg.to : undefined;
        if (typeof to !== 'string' || !IDENT.test(to)) fail(at, 'relationships needs {to: <dimension>}');
        else references = to as StarTableName;
      } else if (testName === 'accepted_values') {
        const values = isRecord(arg) ? arg.values : undefined;
        const valueType = type === 'integer' ? 'number' : 'string';
        if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== valueType || (valueType === 'number' && !Number.isInteger(v)))) {
          fail(at, `accepted_values needs {values: [...]}, a list of ${type === 'integer' ? 'integers' : 'strings'} for a ${type ?? '?'} column`);
        } else if (type !== 'integer' && type !== 'text') fail(at, `accepted_values applies to integer and text columns, not ${type}`);
        else accepted = values as (string | number)[];
      } else fail(at, `${show(testName ?? test)} is not a column test (not_null, relationships: {to: <dimension>}, accepted_values: {values: [...]})`);
    });
  }
  if (!name || !type || description === undefined) return undefined;
  return { name, type, nullable: !notNull, description, ...(references ? { references } : {}), ...(accepted ? { accepted } : {}) };
}

function checkReferences(model: ReadModel, kinds: Map<string, string>, problems: string[]): void {
  model.table.columns.forEach((col, i) => {
    if (!col.references) return;
    const kind = kinds.get(col.references);
    const at = model.where(['columns', i, 'tests']);
    // A model that failed to read has already said why; its kind is unknown here.
    if (!kind && (STAR_TABLE_NAMES as readonly string[]).includes(col.references)) return;
    if (model.table.kind !== 'fact') problems.push(`${at}: relationships are tested from a fact to a dimension; ${model.table.name} is a dimension`);
    else if (kind !== 'dimension') problems.push(`${at}: relationships to "${col.references}", which is not a dimension model`);
  });
}

/** A test entry: `not_null`, or a one-key mapping `{unique: [...]}` → [name, argument]. */
function testOf(test: unknown): [string | undefined, unknown] {
  if (typeof test === 'string') return [test, undefined];
  if (isRecord(test) && Object.keys(test).length === 1) {
    const [name] = Object.keys(test);
    return [name, test[name]];
  }
  return [undefined, undefined];
}

function unknownFields(value: Record<string, unknown>, allowed: string[], path: (string | number)[], fail: Fail): void {
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field)) fail([...path, field], `is not a field of a model ${path.length ? 'column' : 'file'} (${allowed.join(', ')})`);
  }
}

function text(value: unknown, path: (string | number)[], fail: Fail): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : fail(path, `must be a non-empty text, not ${show(value)}`);
}

function ident(value: unknown, path: (string | number)[], fail: Fail): string | undefined {
  return typeof value === 'string' && IDENT.test(value) ? value : fail(path, `must be a lower-case SQL name (letters, digits, _), not ${show(value)}`);
}

function identList(value: unknown, path: (string | number)[], fail: Fail, nonEmpty: boolean): string[] | undefined {
  if (!Array.isArray(value) || (nonEmpty && value.length === 0)) return fail(path, `must be a list of column or table names, e.g. [a, b], not ${show(value)}`);
  const names = value.map((v, i) => ident(v, [...path, i], fail));
  return names.every((n) => n !== undefined) ? (names as string[]) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function nodeAt(doc: Document, path: (string | number)[]): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (node && (isMap(node) || isSeq(node) || isScalar(node))) return node as Node;
  }
  return undefined;
}

/**
 * The TypeScript module `npm run generate` writes from the models (star-models.generated.ts): one
 * table per entry, one column per line, so a change to a model is a readable diff.
 */
export function renderStarModelsModule(tables: readonly StarTable[]): string {
  const lines = [
    '// Generated by `npm run generate` (functions/build/generate-models.ts) from the star tables\' models,',
    '// sql/transform/*.yml. Do not edit: change the model beside the table\'s SQL and run it again.',
    '// functions/core/contract/star-tables.ts exports these as STAR_TABLES.',
    "import type { StarTable } from './star-tables';",
    '',
    'export const STAR_MODELS: readonly StarTable[] = [',
  ];
  for (const table of tables) {
    lines.push('  {');
    for (const [field, value] of Object.entries(table)) if (field !== 'columns') lines.push(`    ${field}: ${JSON.stringify(value)},`);
    lines.push('    columns: [');
    for (const column of table.columns) lines.push(`      ${JSON.stringify(column)},`);
    lines.push('    ],', '  },');
  }
  lines.push('];', '');
  return lines.join('\n');
}
