import { BATCH_ID_COLUMN, type SourceColumn, type SourceTable } from '../contract/source-tables';
import { decodeCopyText } from './copy-text';

/**
 * Renders one row of `COPY … TO STDOUT` in text format (the window's plain columns, tab-separated)
 * as the exact JSON object text PostgreSQL's `json_build_object(…)::text` gives for the same row,
 * with the batch id appended as `withBatchId` does (extract-window.ts). Node does the rendering so
 * the source only runs its plain output functions, which are cheaper than building JSON there.
 *
 * The bytes are PostgreSQL's, type by type (json.c `datum_to_json`, `escape_json`):
 *  - object: `{"k" : v, "k2" : v2}` — `" : "` between key and value, `", "` between pairs;
 *  - integer: its text; numeric: its text when that is a JSON number, else a JSON string
 *    (`"NaN"`, `"Infinity"`); boolean: `true`/`false`; NULL: `null`;
 *  - text, varchar, enum labels: a JSON string escaping `"`, `\`, `\b \f \n \r \t` and other
 *    characters below U+0020 as `\u00xx` (lowercase hex), everything else as is — exactly what
 *    `JSON.stringify` does with a string decoded from valid UTF-8;
 *  - timestamp(3): what `to_char(ts, 'YYYY-MM-DD HH24:MI:SS.MS')` gives — the ISO text (the
 *    session's DateStyle is set to ISO, see {@link COPY_TEXT_SETTINGS}) with the fraction padded
 *    to three digits, the year without " BC", and `null` for ±infinity (to_char's NULL).
 * A value of any other form fails the row loudly rather than landing different bytes.
 * test/integration/extract/copy-json.test.ts compares the renderer with PostgreSQL's own
 * rendering on nasty values, type by type.
 */

/** Session settings the column COPY needs (set with set_config, local to the transaction). */
export const COPY_TEXT_SETTINGS: Readonly<Record<string, string>> = { DateStyle: 'ISO' };

type Render = (field: string) => string;

const NULL_FIELD = '\\N';
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const ISO_TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: BC)?$/;

const textValue = (field: string): string => JSON.stringify(field.includes('\\') ? decodeCopyText(field) : field);
const stringValue = (value: string): string => JSON.stringify(value);

function timestampValue(field: string): string {
  // The common case, a whole millisecond: the ISO text is already to_char's.
  if (field.length === 23 && field.charCodeAt(19) === 46 /* . */ && field.charCodeAt(4) === 45 /* - */) return `"${field}"`;
  if (field === 'infinity' || field === '-infinity') return 'null';
  const m = ISO_TIMESTAMP.exec(field);
  if (!m) throw new Error(`Cannot render timestamp "${field}" as the extract's text: not an ISO timestamp`);
  // to_char's MS truncates to the millisecond; its YYYY prints a BC year's number without the era.
  const [, year, month, day, hh, mi, ss, frac = ''] = m;
  return `"${year}-${month}-${day} ${hh}:${mi}:${ss}.${frac.padEnd(3, '0').slice(0, 3)}"`;
}

/**
 * The JSON text of one non-NULL value of `column`, from its text form: still COPY-escaped
 * (`copy-text`, text format) or already plain (`plain`: CSV or binary, decoded by the caller).
 */
export function jsonValueOf(column: SourceColumn, form: 'copy-text' | 'plain' = 'copy-text'): Render {
  const text = form === 'copy-text' ? textValue : stringValue;
  switch (column.type) {
    case 'integer':
      // int4out writes digits and a sign only (the drift check keeps the column an integer).
      return (field) => field;
    case 'numeric(10,2)':
      return (field) => (JSON_NUMBER.test(field) ? field : text(field));
    case 'boolean':
      return (field) => {
        if (field === 't') return 'true';
        if (field === 'f') return 'false';
        throw new Error(`Cannot render boolean "${field}" of ${column.name}`);
      };
    case 'timestamp(3)':
      return timestampValue;
    case 'text':
    case 'varchar(3)':
    case 'enum:TransactionType':
    case 'enum:PaymentTypeName':
      return text;
  }
}

/**
 * A function from one raw COPY text line (not yet unescaped) to the row's JSON object text with
 * the batch id (the batch id is validated by the caller, as for withBatchId).
 */
export function copyTextToJson(table: SourceTable, batchId: string): (line: string) => string {
  const renders = table.columns.map((c) => (c.type === 'integer' ? undefined : jsonValueOf(c)));
  const prefixes = table.columns.map((c, i) => `${i === 0 ? '{' : ', '}${JSON.stringify(c.name)} : `);
  const tail = `, "${BATCH_ID_COLUMN}" : "${batchId}"}`;
  const n = renders.length;
  const wrongWidth = (line: string): Error => new Error(`COPY row of ${table.name} has ${line.split('\t').length} fields, the contract ${n}: ${line.slice(0, 200)}`);
  return (line) => {
    // Fields are found with indexOf rather than split: no array per row. A tab inside a value is
    // escaped (\t) by COPY, so every raw tab separates two fields.
    let out = '';
    let start = 0;
    for (let i = 0; i < n; i++) {
      let end = line.indexOf('\t', start);
      if (end < 0) {
        if (i !== n - 1) throw wrongWidth(line);
        end = line.length;
      } else if (i === n - 1) throw wrongWidth(line);
      const field = line.slice(start, end);
      const render = renders[i];
      out += prefixes[i] + (field === NULL_FIELD ? 'null' : render === undefined ? field : render(field));
      start = end + 1;
    }
    return out + tail;
  };
}
