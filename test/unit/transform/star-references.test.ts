import { STAR_TABLES, starReferences, starTable } from '../../../functions/core/contract/star-tables';

/** The fact → dimension references are declared once, in the star contract; these keep them honest. */
describe('star references', () => {
  it('point from a fact column to a single-column dimension key of the same type', () => {
    for (const r of starReferences()) {
      const dim = starTable(r.dimension);
      expect(dim.kind).toBe('dimension');
      expect(dim.key).toEqual([r.dimensionKey]);
      const column = starTable(r.fact).columns.find((c) => c.name === r.column)!;
      expect(dim.columns.find((c) => c.name === r.dimensionKey)?.type).toBe(column.type);
    }
  });

  it('cover every fact column named like a dimension key and every fact date', () => {
    const dims = STAR_TABLES.filter((t) => t.kind === 'dimension');
    for (const fact of STAR_TABLES.filter((t) => t.kind === 'fact')) {
      for (const col of fact.columns.filter((c) => c.name !== fact.key[0])) {
        const named = col.type === 'date' ? 'dim_date' : dims.find((d) => col.name === d.key[0] || col.name.endsWith(`_${d.key[0]}`))?.name;
        expect([fact.name, col.name, col.references]).toEqual([fact.name, col.name, named]);
      }
    }
  });
});
