import { factViewColumns } from '../../../functions/aws/fact-view';
import { STAR_TABLES } from '../../../functions/core/contract/star-tables';
import type { RelationBindings } from '../../../functions/core/ports/query-engine';
import { compileRelations, relationEntries, type RelationReader } from '../../../functions/core/sql/relations';

/**
 * The facts as analysts read them locally (`totes query`, core/transform/lake-bindings.ts) have the
 * columns Athena's view of each fact has (aws/fact-view.ts): the README's `created_month` query is
 * one query on the laptop and in Athena. The transform, which binds without `analystFacts`, reads
 * the facts as stored.
 */
describe('analystFacts', () => {
  const BATCH = '0000000042-20261125T204100Z-3f9a';
  const FACTS = STAR_TABLES.filter((t) => t.kind === 'fact');
  const star = Object.fromEntries([...FACTS.map((f) => [f.name, [`star/${f.name}/batch_id=${BATCH}/`]]), ['dim_date', [`star/dim_date/${BATCH}/`]]]);
  const reader: RelationReader = { raw: () => 'RAW', parquet: (r) => `PARQUET ${r.prefixes.join(' ')}`, columnType: (t) => t };
  const selected = (entry: string): string[] => /^"?[a-z_]+"? AS \(SELECT (.*) FROM "?_stored_[a-z_]+"?\)$/s.exec(entry)![1].replace(/substr\(CAST\(created_date AS varchar\), 1, 7\)/, 'month').split(', ').map((c) => /"?([a-z_]+)"?$/.exec(c)![1]);

  it("binds each fact over its stored rows with Athena's view columns, in the view's order", async () => {
    const relations = compileRelations({ batch: {}, current: {}, star, analystFacts: true } satisfies RelationBindings);
    for (const fact of FACTS) {
      const relation = relations.find((r) => r.name === fact.name)!;
      expect(relation).toMatchObject({ kind: 'fact', stored: { kind: 'parquet', name: `_stored_${fact.name}`, shape: fact.name } });
      const [stored, analyst] = await relationEntries([relation], reader);
      expect(stored).toMatch(new RegExp(`^"?_stored_${fact.name}"? AS \\(PARQUET star/${fact.name}/batch_id=${BATCH}/\\)$`));
      expect(selected(analyst)).toEqual(factViewColumns(fact).map((c) => c.name));
      expect(analyst).toMatch(/substr\(CAST\(created_date AS varchar\), 1, 7\) AS "?created_month"?/);
      expect(analyst).toMatch(/"?_batch_id"? AS "?batch_id"?/);
    }
    // A dimension is bound as it is stored.
    expect(relations.find((r) => r.name === 'dim_date')).toMatchObject({ kind: 'parquet' });
  });

  it('binds a fact with no partitions yet as an empty relation with those columns', async () => {
    const relation = compileRelations({ batch: {}, current: {}, star: { fact_payment: [] }, analystFacts: true }).find((r) => r.name === 'fact_payment')!;
    expect(relation).toMatchObject({ kind: 'fact', stored: { kind: 'empty' } });
    const [stored, analyst] = await relationEntries([relation], reader);
    expect(stored).toMatch(/^"?_stored_fact_payment"? AS \(SELECT CAST\(NULL AS .* WHERE false\)$/);
    expect(selected(analyst)).toEqual(factViewColumns(FACTS.find((f) => f.name === 'fact_payment')!).map((c) => c.name));
  });

  it('leaves the facts as stored without the flag (the transform and the compaction read them so)', () => {
    const relations = compileRelations({ batch: {}, current: {}, star });
    for (const fact of FACTS) expect(relations.find((r) => r.name === fact.name)).toMatchObject({ kind: 'parquet', name: fact.name });
  });
});
