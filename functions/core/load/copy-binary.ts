import type { StarType } from '../contract/star-tables';
import type { LoadValue } from '../lake/parquet-rows';

/**
 * Star rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`), the load's
 * COPY data. The server parses a binary field with far less work than its text form (a date, a
 * time or a numeric is read, not parsed): ~25–30% less server CPU for a fact table, and the
 * server's CPU bounds a full load (issue 14 item 3, BENCHMARKS.md). The values stored are the same
 * as from the text form of the same values:
 *  - integer → int4; a value that is not an integer in int4's range fails, as its text would;
 *  - text → its UTF-8 bytes, unescaped;
 *  - date 'YYYY-MM-DD' (years 0001–9999, as parquet-rows.ts writes them) → days since 2000-01-01;
 *  - time 'HH:MM:SS[.f…]' (the lake's 'HH:MM:SS.mmm'; 24:00:00 allowed, as PostgreSQL does) →
 *    microseconds since midnight, which the column's `time(3)` rounds as it rounds text;
 *  - numeric 'digits.digits' (parquet-rows.ts: exactly the contract's scale) → base-10000 digits
 *    with that scale, the column's `numeric(10,2)` checking it as it does text;
 *  - boolean → one byte.
 * A value in any other form fails the batch naming it (the transform writes none such); the text
 * form would have let PostgreSQL try its other input syntaxes.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The file header: signature, flags 0, no header extension. */
export function copyBinaryHeader(): Buffer {
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header, 0);
  return header;
}

/** The file trailer: a field count of -1. */
export function copyBinaryTrailer(): Buffer {
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  return trailer;
}

const POSTGRES_EPOCH_DAYS = 10_957; // 2000-01-01 in days since 1970-01-01
const DAY_MS = 86_400_000;
const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_TEXT = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const NUMERIC_TEXT = /^(-?)(\d+)(?:\.(\d+))?$/;

/** `value` (an int32) big-endian at `pos`: byte stores, without Buffer's per-call checks (the load's hot loop). */
function int32(buf: Buffer, pos: number, value: number): void {
  buf[pos] = value >>> 24;
  buf[pos + 1] = (value >>> 16) & 0xff;
  buf[pos + 2] = (value >>> 8) & 0xff;
  buf[pos + 3] = value & 0xff;
}

/** The decimal digit at `i` of `text`, or -1. */
function digitAt(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/**
 * Microseconds since midnight of the lake's 'HH:MM:SS.mmm' (every time the transform writes), or
 * -1 for any other text (parsed by the general path).
 */
function fastTime(text: string): number {
  if (text.length !== 12 || text.charCodeAt(2) !== 58 || text.charCodeAt(5) !== 58 || text.charCodeAt(8) !== 46) return -1;
  const h1 = digitAt(text, 0), h2 = digitAt(text, 1), m1 = digitAt(text, 3), m2 = digitAt(text, 4), s1 = digitAt(text, 6), s2 = digitAt(text, 7);
  const f1 = digitAt(text, 9), f2 = digitAt(text, 10), f3 = digitAt(text, 11);
  if ((h1 | h2 | m1 | m2 | s1 | s2 | f1 | f2 | f3) < 0) return -1;
  const hours = h1 * 10 + h2, minutes = m1 * 10 + m2, seconds = s1 * 10 + s2;
  if (hours > 23 || minutes > 59 || seconds > 59) return -1;
  return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + (f1 * 100 + f2 * 10 + f3) * 1000;
}

/**
 * The hundredths of the text 'units.cc' (at most 13 digits before the point: safe in a double),
 * as parquet-rows.ts formats every numeric(10,2) value, or NaN for any other text.
 */
function fastCents(text: string): number {
  const n = text.length;
  const negative = text.charCodeAt(0) === 45;
  const start = negative ? 1 : 0;
  if (n - start < 4 || n - start > 16 || text.charCodeAt(n - 3) !== 46) return NaN;
  let cents = 0;
  for (let i = start; i < n; i++) {
    if (i === n - 3) continue;
    const d = digitAt(text, i);
    if (d < 0) return NaN;
    cents = cents * 10 + d;
  }
  return negative ? -cents : cents;
}

/**
 * The tuples of `rows` rows (column-major `columns`, of the star `types` in the same order) in
 * binary COPY format, without header or trailer. `where` names the table in errors.
 */
export function copyBinaryRows(types: readonly StarType[], columns: readonly LoadValue[][], rows: number, where: string): Buffer {
  const fields = columns.length;
  if (types.length !== fields) throw new Error(`${where}: ${fields} columns of data for ${types.length} columns`);
  let buf = Buffer.allocUnsafe(Math.max(1024, rows * (2 + fields * 16)));
  let pos = 0;
  const reserve = (bytes: number): void => {
    if (pos + bytes <= buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + bytes));
    buf.copy(bigger, 0, 0, pos);
    buf = bigger;
  };
  const fail = (c: number, value: LoadValue, wanted: string): never => {
    throw new Error(`${where}: value ${JSON.stringify(value)} of column ${c + 1} (${types[c]}) is not ${wanted}`);
  };
  // A fact row holds a few dates drawn from a few hundred days: each date text is converted once.
  const days = new Map<string, number>();
  for (let r = 0; r < rows; r++) {
    reserve(2);
    buf[pos] = fields >>> 8;
    buf[pos + 1] = fields & 0xff;
    pos += 2;
    for (let c = 0; c < fields; c++) {
      const value = columns[c][r];
      if (value === null) {
        reserve(4);
        int32(buf, pos, -1);
        pos += 4;
        continue;
      }
      switch (types[c]) {
        case 'integer': {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < -2147483648 || value > 2147483647) fail(c, value, 'an integer in the range of integer');
          reserve(8);
          int32(buf, pos, 4);
          int32(buf, pos + 4, value as number);
          pos += 8;
          break;
        }
        case 'text': {
          if (typeof value !== 'string') fail(c, value, 'text');
          const text = value as string;
          reserve(4 + 3 * text.length);
          const length = buf.write(text, pos + 4, 'utf8');
          buf.writeInt32BE(length, pos);
          pos += 4 + length;
          break;
        }
        case 'date': {
          let day = typeof value === 'string' ? days.get(value) : undefined;
          if (day === undefined) {
            const m = typeof value === 'string' ? DATE_TEXT.exec(value) : null;
            if (!m) return fail(c, value, "a date 'YYYY-MM-DD'");
            const [year, month, dayOfMonth] = [Number(m[1]), Number(m[2]), Number(m[3])];
            const at = new Date(0);
            at.setUTCFullYear(year, month - 1, dayOfMonth);
            if (year < 1 || at.getUTCFullYear() !== year || at.getUTCMonth() !== month - 1 || at.getUTCDate() !== dayOfMonth) fail(c, value, 'a date of the calendar');
            day = Math.floor(at.getTime() / DAY_MS) - POSTGRES_EPOCH_DAYS;
            days.set(value as string, day);
          }
          reserve(8);
          int32(buf, pos, 4);
          int32(buf, pos + 4, day);
          pos += 8;
          break;
        }
        case 'time': {
          let total = typeof value === 'string' ? fastTime(value) : -1;
          if (total < 0) {
            const m = typeof value === 'string' ? TIME_TEXT.exec(value) : null;
            if (!m) return fail(c, value, "a time 'HH:MM:SS.mmm'");
            const [hours, minutes, seconds] = [Number(m[1]), Number(m[2]), Number(m[3])];
            const micros = Number((m[4] ?? '').padEnd(6, '0'));
            if (minutes > 59 || seconds > 59 || hours > 24 || (hours === 24 && (minutes > 0 || seconds > 0 || micros > 0))) fail(c, value, 'a time of day');
            // Sent to the microsecond: the column's time(3) rounds it on receipt exactly as it rounds text.
            total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros;
          }
          // An int64 (below 2^37) as two int32 halves.
          const high = Math.floor(total / 4294967296);
          reserve(12);
          int32(buf, pos, 8);
          int32(buf, pos + 4, high);
          int32(buf, pos + 8, total - high * 4294967296);
          pos += 12;
          break;
        }
        case 'numeric(10,2)': {
          const cents = typeof value === 'string' ? fastCents(value) : NaN;
          if (!Number.isNaN(cents)) {
            pos = writeCents(cents, reserve, () => buf, pos);
            break;
          }
          const m = typeof value === 'string' ? NUMERIC_TEXT.exec(value) : null;
          if (!m) return fail(c, value, 'a decimal number');
          pos = writeNumeric(m[1] === '-', m[2], m[3] ?? '', reserve, () => buf, pos);
          break;
        }
        case 'boolean': {
          if (typeof value !== 'boolean') fail(c, value, 'a boolean');
          reserve(5);
          buf.writeInt32BE(1, pos);
          buf[pos + 4] = value ? 1 : 0;
          pos += 5;
          break;
        }
      }
    }
  }
  return buf.subarray(0, pos);
}

/**
 * Writes a numeric field: its length, then ndigits, weight, sign, dscale and the base-10000 digits
 * (PostgreSQL's numeric_send layout), for the decimal `integer.fraction`; dscale is the number of
 * fraction digits given, as numeric_in takes it from the text. Returns the new position.
 */
function writeNumeric(negative: boolean, integer: string, fraction: string, reserve: (bytes: number) => void, buffer: () => Buffer, pos: number): number {
  const whole = integer.replace(/^0+/, '');
  // Groups of four digits aligned on the decimal point.
  const intDigits = whole.length === 0 ? [] : groups(whole.padStart(Math.ceil(whole.length / 4) * 4, '0'));
  const fracDigits = fraction.length === 0 ? [] : groups(fraction.padEnd(Math.ceil(fraction.length / 4) * 4, '0'));
  let digits = [...intDigits, ...fracDigits];
  let weight = intDigits.length - 1;
  // Normalized as numeric_in stores it: no leading or trailing zero groups; zero has none at all.
  while (digits.length > 0 && digits[0] === 0) {
    digits = digits.slice(1);
    weight--;
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits = digits.slice(0, -1);
  if (digits.length === 0) weight = 0;
  const sign = negative && digits.length > 0 ? 0x4000 : 0;
  const length = 8 + 2 * digits.length;
  reserve(4 + length);
  const buf = buffer();
  buf.writeInt32BE(length, pos);
  buf.writeInt16BE(digits.length, pos + 4);
  buf.writeInt16BE(weight, pos + 6);
  buf.writeUInt16BE(sign, pos + 8);
  buf.writeInt16BE(fraction.length, pos + 10);
  let at = pos + 12;
  for (const digit of digits) {
    buf.writeInt16BE(digit, at);
    at += 2;
  }
  return at;
}

/**
 * A numeric field of `cents` hundredths with dscale 2: the same field {@link writeNumeric} writes for
 * its text 'units.cc', in number arithmetic (the hot path: every fact row has one).
 */
function writeCents(cents: number, reserve: (bytes: number) => void, buffer: () => Buffer, pos: number): number {
  const abs = cents < 0 ? -cents : cents;
  let units = Math.floor(abs / 100);
  const fraction = (abs - units * 100) * 100; // one base-10000 digit after the point
  // Base-10000 digits of the units, least significant first (at most 4 for 13 digits).
  const unitDigits: number[] = [];
  while (units > 0) {
    const next = Math.floor(units / 10000);
    unitDigits.push(units - next * 10000);
    units = next;
  }
  const digits: number[] = [];
  for (let i = unitDigits.length - 1; i >= 0; i--) digits.push(unitDigits[i]);
  digits.push(fraction);
  let weight = unitDigits.length - 1;
  let first = 0;
  while (first < digits.length && digits[first] === 0) {
    first++;
    weight--;
  }
  let end = digits.length;
  while (end > first && digits[end - 1] === 0) end--;
  const count = end - first;
  if (count === 0) weight = 0;
  const length = 8 + 2 * count;
  reserve(4 + length);
  const buf = buffer();
  int32(buf, pos, length);
  buf[pos + 4] = 0;
  buf[pos + 5] = count;
  buf.writeInt16BE(weight, pos + 6);
  buf[pos + 8] = cents < 0 && count > 0 ? 0x40 : 0;
  buf[pos + 9] = 0;
  buf[pos + 10] = 0;
  buf[pos + 11] = 2;
  let at = pos + 12;
  for (let i = first; i < end; i++) {
    buf[at] = digits[i] >>> 8;
    buf[at + 1] = digits[i] & 0xff;
    at += 2;
  }
  return at;
}

function groups(digits: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < digits.length; i += 4) out.push(Number(digits.slice(i, i + 4)));
  return out;
}
