/** Renders rows as an aligned plain-text table for the terminal (values shown as text, NULL as ∅). */
export function textTable(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  if (!cols.length) return '(no rows)';
  const cells = rows.map((r) => cols.map((c) => show(r[c])));
  const widths = cols.map((c, i) => Math.min(40, Math.max(c.length, ...cells.map((row) => row[i].length))));
  const line = (values: string[]) => values.map((v, i) => (v.length > widths[i] ? `${v.slice(0, widths[i] - 1)}…` : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line([...cols]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '∅';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
