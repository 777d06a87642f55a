import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Splits the output of `COPY … TO STDOUT` (text format) into lines and undoes COPY's escaping.
 *
 * Text format escapes backslash as `\\` and control characters as `\n`, `\t`, … ; a JSON document
 * rendered by PostgreSQL never holds a raw control character, but its backslashes (inside escaped
 * strings) come back doubled and must be halved, or every `\"` in the data would break.
 */
export function decodeCopyText(line: string): string {
  if (!line.includes('\\')) return line;
  return line.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/g, (_m, oct: string | undefined, hex: string | undefined, ch: string | undefined) => {
    if (oct !== undefined) return String.fromCharCode(parseInt(oct, 8));
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    switch (ch) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'v': return '\v';
      default: return ch ?? '';
    }
  });
}

/**
 * Where a stream of rendered rows divides into parts of `rowsPerPart` rows (the extract's raw
 * files, read by one COPY per window): `offset` bytes of output come before it, `rows` rows, the
 * last of which is `lastLine` (without its `\n`, the cursor of the part that ends there).
 */
export interface PartBoundary {
  offset: number;
  rows: number;
  lastLine: string;
}

/**
 * Cuts `chunk` of rendered output, which starts `offset` bytes into it, at the boundaries it holds:
 * the pieces in order, each with the boundary it ends at (taken off the front of `boundaries`), the
 * last without one when bytes remain after the last boundary. A renderer records a boundary before
 * it pushes the bytes up to it, so a boundary inside or at the end of a chunk is always known when
 * the chunk is read, however the stream joins its pushes.
 */
export function* cutAtBoundaries(chunk: Buffer, offset: number, boundaries: PartBoundary[]): Generator<{ bytes: Buffer; ends?: PartBoundary }> {
  let at = 0;
  for (let next = boundaries[0]; next && next.offset - offset <= chunk.length; next = boundaries[0]) {
    if (next.offset - offset < at) throw new Error(`A part boundary at byte ${next.offset} lies before the output read so far (${offset + at})`);
    boundaries.shift();
    const end = next.offset - offset;
    yield { bytes: chunk.subarray(at, end), ends: next };
    at = end;
  }
  if (at < chunk.length) yield { bytes: chunk.subarray(at) };
}

/**
 * A stream of COPY text chunks in, one transformed line per row out (each ending with `\n`).
 * Remembers the last line it put out (without its `\n`) and the count, which the extract needs
 * for its cursor. `mapLine` gets each line decoded (`decoded`, the default: a line that is one
 * value, such as PostgreSQL's JSON) or as COPY wrote it (`raw`: a row of tab-separated fields,
 * each still escaped, which copy-json.ts splits before it decodes them). With `rowsPerPart`, it
 * records a {@link PartBoundary} after every that many rows.
 */
export class CopyLines extends Transform {
  rows = 0;
  lastLine: string | undefined;
  readonly boundaries: PartBoundary[] = [];
  private rest = '';
  /** Bytes put out so far, counted only when parts are asked for. */
  private pushed = 0;
  // A chunk may end inside a multi-byte character: the decoder carries it over to the next one.
  private readonly decoder = new StringDecoder('utf8');
  private readonly parts: boolean;

  constructor(
    private readonly mapLine: (line: string) => string,
    private readonly lineForm: 'decoded' | 'raw' = 'decoded',
    private readonly rowsPerPart = Infinity,
  ) {
    super({ readableHighWaterMark: 1 << 20 });
    this.parts = Number.isFinite(rowsPerPart);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.rest + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    if (lines.length) this.push(this.render(lines));
    done();
  }

  override _flush(done: TransformCallback): void {
    this.rest += this.decoder.end();
    if (this.rest) this.push(this.render([this.rest]));
    this.rest = '';
    done();
  }

  private render(lines: string[]): string {
    let out = '';
    let line = '';
    for (const raw of lines) {
      line = this.mapLine(this.lineForm === 'raw' ? raw : decodeCopyText(raw));
      out += line + '\n';
      if (this.parts && (this.rows + 1) % this.rowsPerPart === 0) {
        this.boundaries.push({ offset: this.pushed + Buffer.byteLength(out), rows: this.rows + 1, lastLine: line });
      }
      this.rows++;
    }
    this.lastLine = line;
    if (this.parts) this.pushed += Buffer.byteLength(out);
    return out;
  }
}
