import { Transform, type TransformCallback } from 'node:stream';
import { BATCH_ID_COLUMN, type SourceColumn, type SourceTable } from '../contract/source-tables';
import { decodeCopyText, type PartBoundary } from './copy-text';

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

/** How a column's field is written by {@link CopyJsonRows}: byte by byte, or via the string renderer. */
const enum Kind {
  Integer,
  Numeric,
  Boolean,
  Timestamp,
  Text,
}

const kindOf = (column: SourceColumn): Kind => {
  switch (column.type) {
    case 'integer':
      return Kind.Integer;
    case 'numeric(10,2)':
      return Kind.Numeric;
    case 'boolean':
      return Kind.Boolean;
    case 'timestamp(3)':
      return Kind.Timestamp;
    default:
      return Kind.Text;
  }
};

/** Output buffers the rows are rendered into; one is handed on when the next row might not fit. */
const OUT_BYTES = 1 << 20;
/**
 * Output buffers a consumer gave back ({@link CopyJsonRows.recycle}) kept for later rows. A few are
 * in flight at once (one queued here, one or two in gzip), so a few suffice.
 */
const SPARE_BUFFERS = 4;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** The JSON escape of each byte below 0x60 that needs one (0 = none): `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`; other controls take `\u00xx`. */
const SHORT_ESCAPE = new Uint8Array(0x60);
SHORT_ESCAPE[0x22] = 0x22;
SHORT_ESCAPE[0x5c] = 0x5c;
SHORT_ESCAPE[0x08] = 0x62;
SHORT_ESCAPE[0x0c] = 0x66;
SHORT_ESCAPE[0x0a] = 0x6e;
SHORT_ESCAPE[0x0d] = 0x72;
SHORT_ESCAPE[0x09] = 0x74;
/** COPY text format's one-letter escapes (`\n` …) and the byte each stands for. */
const COPY_ESCAPE = new Uint8Array(0x80);
COPY_ESCAPE[0x62] = 0x08; // b
COPY_ESCAPE[0x66] = 0x0c; // f
COPY_ESCAPE[0x6e] = 0x0a; // n
COPY_ESCAPE[0x72] = 0x0d; // r
COPY_ESCAPE[0x74] = 0x09; // t
COPY_ESCAPE[0x76] = 0x0b; // v

/**
 * The same rendering as {@link copyTextToJson}, on bytes: COPY text chunks in (as
 * `pg-copy-streams` gives them), Buffers of JSON lines out (each line ending with `\n`), with no
 * string made per row or per field. Text is written as it comes — UTF-8 bytes of U+0080 and above
 * pass unchanged, as `JSON.stringify` leaves those characters — with COPY's escapes undone and
 * JSON's applied in one pass; a numeric or timestamp in anything but its common form goes through
 * the string renderer ({@link jsonValueOf}), so both give the same bytes for every value
 * (test/integration/extract/copy-json.test.ts runs both on the nasty values).
 *
 * Like {@link CopyLines} it counts the rows and keeps the last line (as text), which the extract
 * needs for its cursor, and with `rowsPerPart` records where each part of that many rows ends.
 */
export class CopyJsonRows extends Transform {
  rows = 0;
  readonly boundaries: PartBoundary[] = [];
  /** Bytes pushed so far (the offset of what `out` holds). */
  private pushed = 0;
  private lastBuf: Buffer | undefined;
  private lastStart = 0;
  private lastEnd = 0;
  private rest: Buffer | undefined;
  private out: Buffer = Buffer.allocUnsafe(OUT_BYTES);
  private pos = 0;
  private readonly spare: Buffer[] = [];
  private readonly kinds: Kind[];
  private readonly slow: Render[];
  private readonly prefixes: Uint8Array[];
  private readonly tail: Uint8Array;
  /** Bytes a row can take beyond six per input byte: prefixes, quotes or `null`, the tail. */
  private readonly overhead: number;

  constructor(
    private readonly table: SourceTable,
    batchId: string,
    private readonly rowsPerPart = Infinity,
  ) {
    // Each output buffer is read as it was pushed (object mode): a byte stream would join the
    // buffers queued when read into a new one, which the consumer could not give back, and which
    // at 150 MB/s of JSON kept ~15 MB more garbage awaiting V8's collection (BENCHMARKS.md).
    super({ readableObjectMode: true, readableHighWaterMark: 1 });
    this.kinds = table.columns.map(kindOf);
    this.slow = table.columns.map((c) => jsonValueOf(c));
    this.prefixes = table.columns.map((c, i) => Buffer.from(`${i === 0 ? '{' : ', '}${JSON.stringify(c.name)} : `, 'utf8'));
    this.tail = Buffer.from(`, "${BATCH_ID_COLUMN}" : "${batchId}"}\n`, 'utf8');
    this.overhead = this.prefixes.reduce((n, p) => n + p.length + 6, 0) + this.tail.length;
  }

  /**
   * Gives back an output chunk the consumer is done with (its bytes written on, none still
   * referenced), for later rows to be rendered into. Rendering into fresh buffers instead leaves
   * each to V8's garbage collection, which lets such memory outside its heap grow by tens of MB
   * before it collects, and more the longer the extract (the extract's peak RSS grew 10% from
   * 1M to 3M orders). Chunks other than a whole output buffer are ignored.
   */
  recycle(chunk: Buffer): void {
    if (chunk.byteOffset === 0 && chunk.buffer.byteLength === OUT_BYTES && this.spare.length < SPARE_BUFFERS) {
      this.spare.push(Buffer.from(chunk.buffer, 0, OUT_BYTES));
    }
  }

  /** The last row's JSON text (without its `\n`), once a row was rendered. */
  get lastLine(): string | undefined {
    return this.lastBuf?.toString('utf8', this.lastStart, this.lastEnd);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let start = 0;
      if (this.rest) {
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          this.rest = Buffer.concat([this.rest, chunk]);
          return done();
        }
        const line = Buffer.concat([this.rest, chunk.subarray(0, nl)]);
        this.rest = undefined;
        this.row(line, 0, line.length);
        start = nl + 1;
      }
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        this.row(chunk, start, nl);
        start = nl + 1;
      }
      if (start < chunk.length) this.rest = Buffer.from(chunk.subarray(start));
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.rest?.length) this.row(this.rest, 0, this.rest.length);
      this.rest = undefined;
      this.handOn(0);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Pushes what is rendered, and starts a buffer with room for at least `need` bytes. */
  private handOn(need: number): void {
    if (this.pos > 0) {
      const full = this.out.subarray(0, this.pos);
      if (this.lastBuf === this.out) this.lastBuf = full;
      this.pushed += full.length;
      this.push(full);
      this.out = (need <= OUT_BYTES && this.spare.pop()) || Buffer.allocUnsafe(Math.max(OUT_BYTES, need));
      this.pos = 0;
    } else if (need > this.out.length) this.out = Buffer.allocUnsafe(need);
  }

  private row(b: Buffer, s: number, e: number): void {
    const need = this.overhead + 6 * (e - s);
    if (this.pos + need > this.out.length) this.handOn(need);
    const out = this.out;
    let o = this.pos;
    const rowStart = o;
    const n = this.kinds.length;
    let p = s;
    // Each field is read once: copied, or escaped, up to the tab that ends it (a tab inside a
    // value is escaped, \t, by COPY, so every raw tab separates two fields).
    for (let i = 0; i < n; i++) {
      if (p > e) throw this.wrongWidth(b, s, e);
      const prefix = this.prefixes[i];
      out.set(prefix, o);
      o += prefix.length;
      let f: number;
      if (b[p] === 92 && p + 1 < e && b[p + 1] === 78 && (p + 2 === e || b[p + 2] === 9) /* \N */) {
        out[o++] = 110; out[o++] = 117; out[o++] = 108; out[o++] = 108; // null
        f = p + 2;
      } else {
        switch (this.kinds[i]) {
          case Kind.Integer:
            // int4out writes digits and a sign only (the drift check keeps the column an integer).
            for (f = p; f < e && b[f] !== 9; f++) out[o++] = b[f];
            break;
          case Kind.Timestamp: {
            // The common cases: a four-digit year AD with 0 to 3 fraction digits (timestamp_out
            // drops trailing zeros: `…:18.36`, `…:18`), which is to_char's text once the fraction
            // is padded to 3 digits. Anything else (BC, infinity, other years) takes the string path.
            f = fieldEnd(b, p, e);
            const n = f - p;
            if ((n === 19 || (n >= 21 && n <= 23 && b[p + 19] === 46)) && b[p + 4] === 45 && b[p + 10] === 32) {
              out[o++] = 34;
              for (let k = p; k < f; k++) out[o++] = b[k];
              if (n === 19) out[o++] = 46; // .
              for (let d = n === 19 ? 0 : n - 20; d < 3; d++) out[o++] = 48; // 0
              out[o++] = 34;
            } else o = this.slowly(i, b, p, f, o);
            break;
          }
          case Kind.Numeric:
            f = fieldEnd(b, p, e);
            if (plainDecimal(b, p, f)) for (let k = p; k < f; k++) out[o++] = b[k];
            else o = this.slowly(i, b, p, f, o);
            break;
          case Kind.Boolean: {
            f = fieldEnd(b, p, e);
            const c = b[p];
            if (f - p !== 1 || (c !== 116 && c !== 102)) throw new Error(`Cannot render boolean "${b.toString('utf8', p, f)}" of ${this.table.columns[i].name}`);
            if (c === 116) { out[o++] = 116; out[o++] = 114; out[o++] = 117; out[o++] = 101; } // true
            else { out[o++] = 102; out[o++] = 97; out[o++] = 108; out[o++] = 115; out[o++] = 101; } // false
            break;
          }
          default:
            o = textJson(b, p, e, out, o);
            f = textEnd;
            break;
        }
      }
      if (i < n - 1 ? f >= e : f !== e) throw this.wrongWidth(b, s, e);
      p = f + 1;
    }
    out.set(this.tail, o);
    o += this.tail.length;
    this.lastBuf = out;
    this.lastStart = rowStart;
    this.lastEnd = o - 1;
    this.pos = o;
    this.rows++;
    if (this.rows % this.rowsPerPart === 0) this.boundaries.push({ offset: this.pushed + o, rows: this.rows, lastLine: this.lastLine! });
  }

  /** A value the byte path does not take: rendered by the string renderer, which also refuses what it cannot render. */
  private slowly(i: number, b: Buffer, p: number, f: number, o: number): number {
    return o + this.out.write(this.slow[i](b.toString('utf8', p, f)), o, 'utf8');
  }

  private wrongWidth(b: Buffer, s: number, e: number): Error {
    const line = b.toString('utf8', s, e);
    return new Error(`COPY row of ${this.table.name} has ${line.split('\t').length} fields, the contract ${this.kinds.length}: ${line.slice(0, 200)}`);
  }
}

/** `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: numeric_out's usual text, which is its JSON as it stands (a subset of JSON_NUMBER). */
function plainDecimal(b: Buffer, p: number, f: number): boolean {
  if (p < f && b[p] === 45) p++;
  if (p >= f) return false;
  const first = b[p];
  if (first === 48) p++;
  else if (first > 48 && first <= 57) while (p < f && b[p] >= 48 && b[p] <= 57) p++;
  else return false;
  if (p === f) return true;
  if (b[p] !== 46 || ++p === f) return false;
  while (p < f && b[p] >= 48 && b[p] <= 57) p++;
  return p === f;
}

/** Where the field starting at `p` ends: its tab, or the line's end `e`. */
function fieldEnd(b: Buffer, p: number, e: number): number {
  let f = p;
  while (f < e && b[f] !== 9) f++;
  return f;
}

/** Where the last field {@link textJson} read ended (its tab, or the line's end). */
let textEnd = 0;

/**
 * One text field, still COPY-escaped, as a JSON string, read up to its tab or the line's end `e`
 * (left in {@link textEnd}): COPY's escapes undone (a backslash and a letter, up to three octal
 * digits, or x and up to two hex digits, else the next byte itself, as decodeCopyText does with
 * the field) and JSON's applied (`escape_json`, JSON.stringify).
 */
function textJson(b: Buffer, p: number, e: number, out: Buffer, o: number): number {
  out[o++] = 34;
  let k = p;
  for (; k < e; k++) {
    let c = b[k];
    if (c === 9) break;
    // A backslash last in its field, or before a line terminator (which decodeCopyText's `.` does
    // not match: CR, U+2028, U+2029), stays itself. COPY writes neither; the two renderers agree anyway.
    if (c === 92 && k + 1 < e && b[k + 1] !== 9 && b[k + 1] !== 13 && !(b[k + 1] === 0xe2 && b[k + 2] === 0x80 && (b[k + 3] === 0xa8 || b[k + 3] === 0xa9))) {
      c = b[++k];
      if (c >= 48 && c <= 55) {
        // Octal, up to three digits: a code point below U+0200, as String.fromCharCode gives it.
        let v = c - 48;
        for (let d = 0; d < 2 && k + 1 < e && b[k + 1] >= 48 && b[k + 1] <= 55; d++) v = v * 8 + (b[++k] - 48);
        o = codePoint(v, out, o);
        continue;
      }
      if (c === 120 /* x */ && k + 1 < e && isHex(b[k + 1])) {
        let v = hexValue(b[++k]);
        if (k + 1 < e && isHex(b[k + 1])) v = v * 16 + hexValue(b[++k]);
        o = codePoint(v, out, o);
        continue;
      }
      if (c < 0x80 && COPY_ESCAPE[c] !== 0) c = COPY_ESCAPE[c];
    }
    if (c >= 0x20 && c !== 34 && c !== 92) out[o++] = c;
    else o = escapeByte(c, out, o);
  }
  textEnd = k;
  out[o++] = 34;
  return o;
}

function escapeByte(c: number, out: Buffer, o: number): number {
  out[o++] = 92;
  const short = SHORT_ESCAPE[c];
  if (short !== 0) {
    out[o++] = short;
    return o;
  }
  out[o++] = 117; out[o++] = 48; out[o++] = 48; // u00
  out[o++] = HEX[c >> 4];
  out[o++] = HEX[c & 15];
  return o;
}

/** A code point below U+0800 decoded from an octal or hex escape, as its JSON: escaped below U+0020, else UTF-8. */
function codePoint(v: number, out: Buffer, o: number): number {
  if (v < 0x80) {
    if (v >= 0x20 && v !== 34 && v !== 92) out[o++] = v;
    else o = escapeByte(v, out, o);
    return o;
  }
  out[o++] = 0xc0 | (v >> 6);
  out[o++] = 0x80 | (v & 0x3f);
  return o;
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const hexValue = (c: number): number => (c <= 57 ? c - 48 : (c | 0x20) - 87);
