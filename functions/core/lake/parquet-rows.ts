import { parquetMetadata, parquetScan, type AsyncBuffer, type FileMetaData, type SchemaElement } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import type { StarColumn } from '../contract/star-tables';

/**
 * Reads a lake Parquet file into column arrays, in pure JavaScript (hyparquet), so neither the load
 * Lambda nor the extract Lambda carries a native query engine. The load reads star tables with it
 * (values ready for the warehouse); the extract reads the keys and stamps of the current state
 * (extract/lake-versions.ts). It lives with the lake, not with either stage.
 *
 * Values come out in the text forms PostgreSQL parses exactly, whatever engine wrote the file
 * (DuckDB locally; Athena/Trino in the cloud):
 *  - integer  → number
 *  - text     → string
 *  - date     → 'YYYY-MM-DD' (Parquet DATE is days since 1970-01-01; no time zone is involved)
 *  - time     → 'HH:MM:SS.mmm' text as the lake stores it (Glue has no TIME type)
 *  - numeric  → decimal string with exactly the contract's scale, e.g. '12.50', built from the
 *               unscaled integer Parquet stores, never through a binary float
 *  - boolean  → boolean
 *  - timestamp → 'YYYY-MM-DD HH:MM:SS.mmm' (a current-state file's `last_updated`, for the extract's
 *               lake reads; not a star type: Parquet TIMESTAMP without time zone, read as UTC)
 *  - NULL     → null
 *
 * hyparquet is an ES module; this CommonJS code `require`s it (Node >= 20.19 loads ESM from
 * `require`), jest transforms it (package.json transformIgnorePatterns), and esbuild inlines it
 * into the Lambda bundle.
 */

export type LoadValue = string | number | boolean | null;

/** A column to read: a star column, or a `timestamp` (current-state files, read by the extract). */
export type ParquetColumn = Pick<StarColumn, 'name'> & { type: StarColumn['type'] | 'timestamp' };

/** A slice of rows of one file, column-major, in the order of the requested columns. */
export interface ColumnChunk {
  /** Row offset of this chunk in the file. */
  offset: number;
  rows: number;
  columns: LoadValue[][];
}

export interface ReadParquetOptions {
  /** Where the bytes came from, for error messages (e.g. the object key). */
  file: string;
  /** Largest number of rows per yielded chunk (default 50 000). */
  chunkRows?: number;
  /**
   * Columns the file may lack, read as NULL: columns a model gained after the file was written
   * (functions/build/generate-models.ts adds them to the warehouse as nullable). Any other missing
   * column is an error.
   */
  absentAsNull?: ReadonlySet<string>;
}

const DEFAULT_CHUNK_ROWS = 50_000;
const DAY_MS = 86_400_000;

/** Number of rows a Parquet file holds, from its footer. */
export function parquetRowCount(bytes: Uint8Array, file: string): number {
  return Number(readMetadata(bytes, file).num_rows);
}

/**
 * Yields the file's rows for `columns` in chunks of at most `chunkRows`, one row group decoded at
 * a time, so memory stays proportional to a row group, not to the file. Columns are matched by
 * name; extra columns in the file (lineage `_batch_id`, `_sql_hash`) are ignored.
 */
export async function* readParquetColumns(
  bytes: Uint8Array,
  columns: readonly ParquetColumn[],
  options: ReadParquetOptions,
): AsyncGenerator<ColumnChunk> {
  const { file } = options;
  const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const metadata = readMetadata(bytes, file);
  const elements = topLevelElements(metadata);
  const decoders = columns.map((column) => {
    const element = elements.get(column.name);
    if (!element) {
      if (options.absentAsNull?.has(column.name)) return undefined;
      throw new Error(`Parquet file ${file} has no column "${column.name}" (it has ${[...elements.keys()].join(', ')}); was it written by an older transform?`);
    }
    return decoderFor(column, element, file);
  });

  // Decimals are read as their unscaled integers: hyparquet would otherwise divide them into floats.
  const rawMetadata: FileMetaData = {
    ...metadata,
    schema: metadata.schema.map((e) => (e.converted_type === 'DECIMAL' || e.logical_type?.type === 'DECIMAL' ? { ...e, converted_type: undefined, logical_type: undefined } : e)),
  };
  // A fact row holds five dates drawn from a few hundred days: format each day once.
  const days = new Map<number, string>();
  const dateFromDays = (day: number): string => {
    let text = days.get(day);
    if (text === undefined) {
      text = new Date(day * DAY_MS).toISOString().slice(0, 10);
      days.set(day, text);
    }
    return text;
  };
  const scan = await parquetScan({
    file: asyncBuffer(bytes),
    metadata: rawMetadata,
    columns: columns.filter((_c, i) => decoders[i]).map((c) => c.name),
    compressors,
    parsers: { dateFromDays },
  });

  for (const range of scan.ranges) {
    const decoded: LoadValue[][] = [];
    try {
      for (let i = 0; i < columns.length; i++) {
        // Decoding a column of a row group takes tens of milliseconds of synchronous work. Between
        // columns, give the event loop a turn so the COPY stream's socket writes can proceed: the
        // server keeps ingesting the previous chunk while this one decodes (2 cores, both busy).
        const decoder = decoders[i];
        if (!decoder) {
          decoded.push(new Array<LoadValue>(range.rowEnd - range.rowStart).fill(null));
          continue;
        }
        await setImmediatePromise();
        decoded.push(decoder(await scan.readColumn({ column: columns[i].name, rowStart: range.rowStart, rowEnd: range.rowEnd })));
      }
    } catch (err) {
      throw new Error(`Cannot read rows ${range.rowStart}-${range.rowEnd} of Parquet file ${file}: ${(err as Error).message}`);
    }
    for (let start = 0; start < range.rowEnd - range.rowStart; start += chunkRows) {
      const end = Math.min(start + chunkRows, range.rowEnd - range.rowStart);
      yield {
        offset: range.rowStart + start,
        rows: end - start,
        columns: start === 0 && end === range.rowEnd - range.rowStart ? decoded : decoded.map((values) => values.slice(start, end)),
      };
    }
  }
}

function readMetadata(bytes: Uint8Array, file: string): FileMetaData {
  try {
    return parquetMetadata(toArrayBuffer(bytes));
  } catch (err) {
    throw new Error(`${file} is not a readable Parquet file (${bytes.byteLength} bytes): ${(err as Error).message}`);
  }
}

function topLevelElements(metadata: FileMetaData): Map<string, SchemaElement> {
  // schema[0] is the root; a flat file (ours) has only leaf columns after it.
  return new Map(metadata.schema.slice(1).filter((e) => !e.num_children).map((e) => [e.name, e]));
}

type Decoder = (values: ArrayLike<unknown>) => LoadValue[];

/**
 * Checks every value with `ok` and returns the values themselves when hyparquet already gave a plain
 * array of acceptable values (the common case: no copy, no garbage for millions of rows); otherwise
 * (a typed array, or values to convert) builds a new array with `convert`.
 */
function passOrConvert(values: ArrayLike<unknown>, ok: (v: unknown) => boolean, convert: (v: unknown) => LoadValue): LoadValue[] {
  if (Array.isArray(values)) {
    let i = 0;
    while (i < values.length && ok(values[i])) i++;
    if (i === values.length) return values as LoadValue[];
  }
  const out: LoadValue[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return out;
}

function decoderFor(column: ParquetColumn, element: SchemaElement, file: string): Decoder {
  const where = `column "${column.name}" of Parquet file ${file}`;
  const unexpected = (v: unknown): never => {
    throw new Error(`Unexpected value ${String(v)} (${typeof v}) in ${where}, declared ${column.type} by the star contract`);
  };
  switch (column.type) {
    case 'integer':
      return (values) =>
        passOrConvert(
          values,
          (v) => v === null || typeof v === 'number',
          (v) => (v == null ? null : typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : unexpected(v)),
        );
    case 'text':
    case 'time':
    case 'date':
      // Dates arrive as 'YYYY-MM-DD' from the DATE parser above (or as text, which PostgreSQL casts).
      return (values) =>
        passOrConvert(
          values,
          (v) => v === null || typeof v === 'string',
          (v) => (v == null ? null : typeof v === 'string' ? v : unexpected(v)),
        );
    case 'boolean':
      return (values) =>
        passOrConvert(
          values,
          (v) => v === null || typeof v === 'boolean',
          (v) => (v == null ? null : typeof v === 'boolean' ? v : unexpected(v)),
        );
    case 'timestamp':
      // hyparquet gives Dates for TIMESTAMP (INT64 millis/micros, INT96) whatever the writer.
      return (values) =>
        passOrConvert(
          values,
          () => false,
          (v) => (v == null ? null : v instanceof Date ? v.toISOString().slice(0, 23).replace('T', ' ') : unexpected(v)),
        );
    case 'numeric(10,2)': {
      const isDecimal = element.converted_type === 'DECIMAL' || element.logical_type?.type === 'DECIMAL';
      if (!isDecimal) {
        throw new Error(`${where} is ${element.type} without a DECIMAL annotation; the star contract says numeric(10,2) (DECIMAL(10,2))`);
      }
      const fileScale = element.scale ?? (element.logical_type?.type === 'DECIMAL' ? element.logical_type.scale : 0);
      const out = (values: ArrayLike<unknown>): LoadValue[] => {
        const texts: LoadValue[] = new Array(values.length);
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          if (v == null) texts[i] = null;
          else if (fileScale === 2 && (typeof v === 'number' || (typeof v === 'bigint' && v <= MAX_SAFE && v >= -MAX_SAFE))) texts[i] = formatCents(Number(v));
          else {
            const unscaled = typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : v instanceof Uint8Array ? twosComplement(v) : unexpected(v);
            texts[i] = formatDecimal(unscaled, fileScale, 2, where);
          }
        }
        return texts;
      };
      return out;
    }
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A safe integer count of hundredths as 'units.cc' — the same text as formatDecimal(…, 2, 2), in
 * number arithmetic, which is exact for safe integers (the load's hot path: every fact row has one).
 */
function formatCents(cents: number): string {
  const abs = cents < 0 ? -cents : cents;
  const frac = abs % 100;
  const text = `${(abs - frac) / 100}.${frac < 10 ? '0' : ''}${frac}`;
  return cents < 0 ? `-${text}` : text;
}

/** A big-endian two's-complement integer (Parquet FIXED_LEN_BYTE_ARRAY / BYTE_ARRAY decimals). */
export function twosComplement(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if (bytes.length > 0 && bytes[0] & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

/**
 * The decimal `unscaled × 10^-scale` as text with exactly `targetScale` digits after the point.
 * Widening the scale pads zeros; narrowing it is allowed only when no digit would be lost.
 */
export function formatDecimal(unscaled: bigint, scale: number, targetScale: number, where = 'a decimal'): string {
  let value = unscaled;
  if (targetScale > scale) value *= 10n ** BigInt(targetScale - scale);
  else if (targetScale < scale) {
    const divisor = 10n ** BigInt(scale - targetScale);
    if (value % divisor !== 0n) throw new Error(`${where} holds ${unscaled}e-${scale}, which does not fit ${targetScale} decimal places`);
    value /= divisor;
  }
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(targetScale + 1, '0');
  const text = targetScale === 0 ? digits : `${digits.slice(0, -targetScale)}.${digits.slice(-targetScale)}`;
  return negative ? `-${text}` : text;
}

/**
 * The bytes as an ArrayBuffer of their own. A Node Buffer is often a view into a larger shared
 * pool, and Buffer#slice does not copy, so copy with the Uint8Array constructor unless the view
 * already spans its whole buffer.
 */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return new Uint8Array(bytes).buffer;
}

function asyncBuffer(bytes: Uint8Array): AsyncBuffer {
  const buffer = toArrayBuffer(bytes);
  return { byteLength: buffer.byteLength, slice: (start: number, end?: number) => buffer.slice(start, end) };
}
