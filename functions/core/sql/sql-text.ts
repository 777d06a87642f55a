/**
 * SQL text: the one place identifiers are quoted, literals are written and WITH entries are spliced
 * in front of a query. Every engine and the warehouse build their statements with these.
 *
 * Values are parameters wherever the driver takes them (house rule); what is spliced into text is
 * identifiers from the contracts and our configuration (checked against a pattern, then
 * double-quoted) and literals our own code produced (locations, validated batch ids, enum values).
 */

/** Contract names, warehouse schemas and generated names: lower-case letters, digits, underscore. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/** Lake names (Glue databases, Trino catalogs and schemas, temporary tables) may also hold `-`. */
export const LAKE_IDENTIFIER = /^[a-z_][a-z0-9_-]*$/;

/** `name` unchanged if it matches `pattern`; anything else is refused (it did not come from a contract). */
export function checkIdent(name: string, pattern: RegExp = IDENTIFIER): string {
  if (!pattern.test(name)) {
    throw new Error(`"${name}" is not an identifier the pipeline generates (expected ${pattern}); check the contract or the database names in the configuration`);
  }
  return name;
}

/** Double-quotes a contract name, warehouse schema or generated name ({@link IDENTIFIER}); anything else is refused. */
export function quoteIdent(name: string): string {
  return `"${checkIdent(name, IDENTIFIER)}"`;
}

/** Double-quotes a lake name ({@link LAKE_IDENTIFIER}: Glue databases, Trino catalogs, temporary tables). */
export function quoteLakeIdent(name: string): string {
  return `"${checkIdent(name, LAKE_IDENTIFIER)}"`;
}

/**
 * A SQL string literal. Used only for values our own code produced (locations, validated batch ids,
 * partition values read back from the engine, contract enum values), never for user input; quotes
 * are doubled.
 */
export function stringLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('A SQL literal cannot contain a NUL character');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A literal for a contract value: numbers as written, strings quoted. */
export function literal(value: string | number): string {
  return typeof value === 'number' ? String(value) : stringLiteral(value);
}

/** Position after a comment, string literal or quoted identifier starting at `i`, or `i` itself. */
function skipLexeme(text: string, i: number): number {
  const two = text.slice(i, i + 2);
  if (two === '--') {
    const end = text.indexOf('\n', i);
    return end < 0 ? text.length : end + 1;
  }
  if (two === '/*') {
    const end = text.indexOf('*/', i + 2);
    if (end < 0) throw new Error('Unterminated /* comment in SQL text');
    return end + 2;
  }
  const quote = text[i];
  if (quote === "'" || quote === '"') {
    let j = i + 1;
    for (;;) {
      const end = text.indexOf(quote, j);
      if (end < 0) throw new Error(`Unterminated ${quote === "'" ? 'string literal' : 'quoted identifier'} in SQL text`);
      if (text[end + 1] === quote) j = end + 2;
      else return end + 1;
    }
  }
  return i;
}

/** Position of the first character at or after `i` that is neither whitespace nor inside a comment. */
export function skipSpace(text: string, i = 0): number {
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    const skipped = text.startsWith('--', i) || text.startsWith('/*', i) ? skipLexeme(text, i) : i;
    if (skipped === i) return i;
    i = skipped;
  }
}

/** A statement without its leading comments, trailing semicolons and trailing comment line: ready to embed. */
export function stripOuter(sql: string): string {
  let text = sql.slice(skipSpace(sql, 0));
  text = text.replace(/(\s|;)+$/, '');
  // A trailing line comment after the last statement: drop it so nothing can comment out our suffix.
  const lines = text.split('\n');
  while (lines.length > 1 && /^\s*--/.test(lines[lines.length - 1])) lines.pop();
  return lines.join('\n').replace(/(\s|;)+$/, '');
}

/** A SELECT split into its own WITH entries (text without `WITH`) and its final query. */
export interface SplitSelect {
  ctes: string | undefined;
  body: string;
}

/**
 * Splits a SELECT that may start with `WITH a AS (…), b (x, y) AS (…) SELECT …` into the entry
 * list and the final query, skipping comments, string literals and quoted identifiers. Leading
 * comments (the file header) and trailing semicolons are dropped. (The transform's generator,
 * engines/trino/relations.ts, wraps a transform file's SELECT with it.)
 */
export function splitSelect(sql: string): SplitSelect {
  const text = stripOuter(sql);
  if (!/^with\b/i.test(text)) return { ctes: undefined, body: text };
  const afterWith = 4;
  if (/^recursive\b/i.test(text.slice(afterWith).trimStart())) throw new Error('WITH RECURSIVE is not supported in transform SQL');
  let depth = 0;
  let i = afterWith;
  while (i < text.length) {
    const skipped = skipLexeme(text, i);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth < 0) throw new Error('Unbalanced parentheses in transform SQL');
      if (depth === 0) {
        const next = skipSpace(text, i + 1);
        if (text[next] === ',' || /^as\b/i.test(text.slice(next))) {
          i = next;
          continue;
        }
        return { ctes: text.slice(afterWith, i + 1).trim(), body: text.slice(i + 1).trim() };
      }
    }
    i++;
  }
  throw new Error('Transform SQL starts with WITH but has no query after its WITH entries');
}

/**
 * The one place WITH entries are spliced in front of a statement: every engine binds its relations
 * with it (core/sql/relations.ts makes the entries), the Trino statements put the transform file's
 * own entries back with it (engines/trino/relations.ts `writeQuery`), and the current views use it.
 * Merges with the statement's own WITH clause (`WITH RECURSIVE` kept) if it has one. Leading
 * comments, trailing semicolons and a trailing comment line are dropped; the rest of the text is
 * kept as written (unlike {@link splitSelect}).
 */
export function prependCtes(sql: string, ctes: readonly string[]): string {
  const body = stripOuter(sql);
  if (!ctes.length) return body;
  const withClause = /^with(\s+recursive)?\s/i.exec(body);
  if (withClause) return `${withClause[0]}${ctes.join(',\n')},\n${body.slice(withClause[0].length)}`;
  return `WITH\n${ctes.join(',\n')}\n${body}`;
}
