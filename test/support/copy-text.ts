import type { LoadValue } from '../../functions/core/lake/parquet-rows';

/**
 * Column chunks as COPY text-format lines: tab-separated, `\N` for NULL, backslash escapes for
 * backslash, tab, newline and carriage return (PostgreSQL's text format rules). The load sends
 * binary COPY data (functions/core/load/copy-binary.ts); this text form is the reference it is
 * compared with (test/integration/load/copy-binary.test.ts).
 */
export function copyText(columns: readonly LoadValue[][], rows: number): string {
  if (rows === 0) return '';
  const lines: string[] = new Array(rows);
  const fields: string[] = new Array(columns.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns.length; c++) fields[c] = copyField(columns[c][r]);
    lines[r] = fields.join('\t');
  }
  return `${lines.join('\n')}\n`;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function copyField(value: LoadValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'string') return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (ch) => COPY_ESCAPES[ch]) : value;
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return String(value);
}
