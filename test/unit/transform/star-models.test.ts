/**
 * The star tables' models (sql/transform/<table>.yml, issue 16 items 3 and 4): the one declaration of
 * each table's columns, key and data tests. These check that the checked-in contract is what the
 * models compile to, that a model says what it must (errors name the file, the line and the field),
 * and what the generator writes for the warehouse when a model changes.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ENUMS } from '../../../functions/core/contract/source-tables';
import { parseStarModels, renderStarModelsModule, StarModelError, type StarModelFile } from '../../../functions/core/contract/star-models';
import { STAR_TABLES, type StarTable } from '../../../functions/core/contract/star-tables';
import { dataTests } from '../../../functions/core/transform/data-tests';
import { loadSqlFiles } from '../../../functions/core/transform/sql-files';
import { generateModels, GENERATED_MODULE, readRootModelFiles, UnsupportedChangeError, warehouseChange } from '../../../functions/build/generate-models';

const REPO_ROOT = path.resolve(__dirname, '../../..');

let files: StarModelFile[];
beforeAll(async () => {
  files = await readRootModelFiles(REPO_ROOT);
});

const replaced = (name: string, from: string | RegExp, to: string): StarModelFile[] =>
  files.map((f) => {
    if (f.origin !== `sql/transform/${name}.yml`) return f;
    const text = f.text.replace(from, to);
    if (text === f.text) throw new Error(`test setup: ${String(from)} not found in ${f.origin}`);
    return { ...f, text };
  });

const problemsOf = (models: StarModelFile[]): string[] => {
  try {
    parseStarModels(models);
  } catch (err) {
    if (err instanceof StarModelError) return err.problems;
    throw err;
  }
  throw new Error('expected the models to be refused');
};

describe('the checked-in star contract', () => {
  it('is what the models compile to (else: npm run generate), and needs no warehouse migration', async () => {
    const tables = parseStarModels(files);
    expect(renderStarModelsModule(tables)).toBe(await readFile(path.join(REPO_ROOT, GENERATED_MODULE), 'utf8'));
    expect(tables).toEqual(STAR_TABLES);
    expect(warehouseChange(STAR_TABLES, tables)).toBeUndefined();
    expect(await generateModels(REPO_ROOT, { check: true })).toEqual({ changed: [], summary: [] });
  });

  it('declares the data tests the transform runs, accepted values agreeing with the source enums', () => {
    const names = dataTests().map((t) => `${t.table} ${t.name}`);
    expect(names).toEqual(expect.arrayContaining([
      'dim_transaction accepted_values(transaction_type)',
      'dim_payment_type accepted_values(payment_type_name)',
      'dim_date accepted_values(day_of_week)',
      'fact_sales_order relationship(sales_staff_id → dim_staff.staff_id)',
      'fact_payment not_null(paid)',
      'dim_staff unique(staff_id)',
    ]));
    expect(names).not.toContain('dim_staff not_null(location)');
    const column = (t: string, c: string) => STAR_TABLES.find((x) => x.name === t)!.columns.find((x) => x.name === c)!;
    expect(column('dim_transaction', 'transaction_type').accepted).toEqual(ENUMS.TransactionType);
    expect(column('dim_payment_type', 'payment_type_name').accepted).toEqual(ENUMS.PaymentTypeName);
    expect(STAR_TABLES.filter((t) => t.kind === 'fact').map((t) => t.versionsOf)).toEqual(['sales_order', 'purchase_order', 'payment']);
  });
});

describe('a model that does not say what it must', () => {
  it('names the file, the line and the field of each problem', () => {
    const problems = problemsOf(
      replaced('fact_sales_order', '    type: integer\n    description: Units sold.', '    type: int\n    description: Units sold.')
        .map((f) => (f.origin.endsWith('dim_staff.yml') ? { ...f, text: f.text.replace('kind: dimension', 'kind: dimention') } : f)),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^sql\/transform\/dim_staff\.yml:5: kind: must be fact or dimension, not "dimention"$/),
      expect.stringMatching(/^sql\/transform\/fact_sales_order\.yml:\d+: columns\[7\]\.type: must be one of integer, text, date, time, numeric\(10,2\), boolean, not "int"$/),
    ]);
  });

  it.each([
    ['an unknown test', 'dim_staff', '    tests: [not_null]\n  - name: last_name', '    tests: [not_nul]\n  - name: last_name', /columns\[1\]\.tests\[0\]: "not_nul" is not a column test/],
    ['a relationship to a fact', 'fact_payment', 'relationships: {to: dim_transaction}', 'relationships: {to: fact_sales_order}', /relationships to "fact_sales_order", which is not a dimension model/],
    ['a key that is not unique-tested', 'dim_design', '  - unique: [design_id]', '  - unique: [design_name]', /tests\[0\]\.unique: tests the columns design_name; the key is design_id/],
    ['a nullable key', 'dim_design', "  - name: design_id\n    type: integer\n    description: Design key.\n    tests: [not_null]", "  - name: design_id\n    type: integer\n    description: Design key.", /key\[0\]: "design_id" is a key column: its tests must include not_null/],
    ['a misspelt field', 'dim_currency', 'description: ISO 4217 code.', 'descripton: ISO 4217 code.', /columns\[1\]\.descripton: is not a field of a model column/],
    ['accepted values of the wrong type', 'dim_date', 'values: [1, 2, 3, 4]}', "values: ['1', '2', '3', '4']}", /accepted_values needs \{values: \[\.\.\.\]\}, a list of integers/],
    ['a model named after another file', 'dim_location', 'name: dim_location', 'name: dim_place', /name: is "dim_place" but the file is sql\/transform\/dim_location\.yml/],
    ['YAML that does not parse', 'dim_location', 'key: [location_id]', 'key: [location_id', /^sql\/transform\/dim_location\.yml:\d+: /],
  ])('refuses %s', (_what, table, from, to, message) => {
    expect(problemsOf(replaced(table, from, to)).join('\n')).toMatch(message);
  });

  it('refuses a missing model', () => {
    expect(problemsOf(files.filter((f) => !f.origin.endsWith('dim_staff.yml')))).toEqual(['sql/transform/dim_staff.yml: missing (every star table has a model file beside its SQL)']);
  });
});

describe('the warehouse migration a model change needs', () => {
  const withColumn = (tables: readonly StarTable[], name: string, column: StarTable['columns'][number]): StarTable[] =>
    tables.map((t) => (t.name === name ? { ...t, columns: [...t.columns, column] } : t));
  const gross = { name: 'gross_value', type: 'numeric(10,2)', nullable: false, description: 'units_sold × unit_price.' } as const;

  it('adds a new column at the end, nullable, and recreates a fact\'s current view with it', () => {
    const change = warehouseChange(STAR_TABLES, withColumn(STAR_TABLES, 'fact_sales_order', gross))!;
    expect(change.name).toBe('fact_sales_order_gross_value');
    expect(change.summary).toEqual(['fact_sales_order gains gross_value (numeric(10,2))']);
    expect(change.sql).toMatch(/^ALTER TABLE "fact_sales_order" ADD COLUMN "gross_value" numeric\(10,2\);\n\nCREATE OR REPLACE VIEW fact_sales_order_current AS\nSELECT sales_record_id, sales_order_id, .*, agreed_delivery_location_id, gross_value\n/s);
    const dim = warehouseChange(STAR_TABLES, withColumn(STAR_TABLES, 'dim_design', { ...gross, name: 'colour', type: 'text' }))!;
    expect(dim.sql).toBe('ALTER TABLE "dim_design" ADD COLUMN "colour" text;');
  });

  it('drops or sets NOT NULL', () => {
    const loosened = STAR_TABLES.map((t) => (t.name === 'dim_staff' ? { ...t, columns: t.columns.map((c) => (c.name === 'email_address' ? { ...c, nullable: true } : c)) } : t));
    expect(warehouseChange(STAR_TABLES, loosened)!.sql).toBe('ALTER TABLE "dim_staff" ALTER COLUMN "email_address" DROP NOT NULL;');
  });

  it.each([
    ['a dropped column', (t: StarTable) => ({ ...t, columns: t.columns.slice(0, -1) }), /fact_payment\.payment_date was dropped or renamed/],
    ['a column in the middle', (t: StarTable) => ({ ...t, columns: [gross, ...t.columns] }), /fact_payment\.payment_id was moved; a new column goes after the existing ones/],
    ['a changed type', (t: StarTable) => ({ ...t, columns: t.columns.map((c) => (c.name === 'paid' ? { ...c, type: 'text' as const } : c)) }), /fact_payment\.paid changed type from boolean to text/],
  ])('refuses %s, saying what to do', (_what, change, message) => {
    const next = STAR_TABLES.map((t) => (t.name === 'fact_payment' ? change(t) : t));
    expect(() => warehouseChange(STAR_TABLES, next)).toThrow(UnsupportedChangeError);
    expect(() => warehouseChange(STAR_TABLES, next)).toThrow(message);
    expect(() => warehouseChange(STAR_TABLES, next)).toThrow(/--hand-migrated/);
  });

  it('writes the contract and the numbered migration; the transform refuses a model the contract does not match', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'totes-models-'));
    try {
      await cp(path.join(REPO_ROOT, 'sql'), path.join(root, 'sql'), { recursive: true });
      await cp(path.join(REPO_ROOT, GENERATED_MODULE), path.join(root, GENERATED_MODULE), { recursive: true });
      const model = path.join(root, 'sql/transform/fact_sales_order.yml');
      await writeFile(model, `${await readFile(model, 'utf8')}  - name: gross_value\n    type: numeric(10,2)\n    description: units_sold × unit_price.\n    tests: [not_null]\n`);
      await expect(loadSqlFiles(root)).rejects.toThrow(
        /sql\/transform\/fact_sales_order\.yml \(adds gross_value\) differs from the star contract this code was generated with .*run `npm run generate`/,
      );
      const checked = await generateModels(root, { check: true });
      expect(checked.changed).toEqual(['sql/warehouse/0005_fact_sales_order_gross_value.sql', GENERATED_MODULE]);
      await generateModels(root);
      const migration = await readFile(path.join(root, 'sql/warehouse/0005_fact_sales_order_gross_value.sql'), 'utf8');
      expect(migration).toMatch(/^-- Totes Lake warehouse, migration 0005: fact_sales_order gains gross_value \(numeric\(10,2\)\)\./);
      expect(migration).toContain('`totes backfill fact_sales_order` rebuilds every version with the new column');
      expect(migration).toContain('ALTER TABLE "fact_sales_order" ADD COLUMN "gross_value" numeric(10,2);');
      expect(await readFile(path.join(root, GENERATED_MODULE), 'utf8')).toContain('{"name":"gross_value","type":"numeric(10,2)","nullable":false,"description":"units_sold × unit_price."}');
      // Generated once: the next run (with the contract it wrote as the previous one) has nothing to do.
      const next = parseStarModels(await readRootModelFiles(root));
      expect(await generateModels(root, { check: true, previous: next })).toEqual({ changed: [], summary: [] });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
