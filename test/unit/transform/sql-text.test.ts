import { checkIdent, literal, prependCtes, quoteIdent, quoteLakeIdent } from '../../../functions/core/sql/sql-text';

describe('sql-text', () => {
  it('quotes contract names and refuses anything else; lake names may hold a hyphen', () => {
    expect(quoteIdent('dim_staff')).toBe('"dim_staff"');
    expect(() => quoteIdent('my-db')).toThrow(/not an identifier/);
    expect(quoteLakeIdent('my-db')).toBe('"my-db"');
    expect(() => quoteLakeIdent('a"; DROP')).toThrow(/not an identifier/);
    expect(() => checkIdent('Upper')).toThrow(/not an identifier/);
  });

  it('writes literals with quotes doubled and numbers as written', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(literal(7)).toBe('7');
  });

  it('prepends WITH entries, merging with a WITH clause of the query after its leading comments', () => {
    expect(prependCtes('SELECT 1', [])).toBe('SELECT 1');
    expect(prependCtes('-- header\nSELECT * FROM a', ['a AS (SELECT 1)'])).toBe('WITH\na AS (SELECT 1)\nSELECT * FROM a');
    // Trailing semicolons and a trailing comment line go, so the statement can be embedded.
    expect(prependCtes('SELECT * FROM a;\n-- end\n', ['a AS (SELECT 1)'])).toBe('WITH\na AS (SELECT 1)\nSELECT * FROM a');
    expect(prependCtes('/* c */ WITH b AS (SELECT 2) SELECT * FROM a, b', ['a AS (SELECT 1)'])).toBe('WITH a AS (SELECT 1),\nb AS (SELECT 2) SELECT * FROM a, b');
    expect(prependCtes('with recursive r AS (SELECT 1) SELECT * FROM r', ['a AS (SELECT 1)'])).toBe('with recursive a AS (SELECT 1),\nr AS (SELECT 1) SELECT * FROM r');
  });
});
