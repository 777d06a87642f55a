import { Readable } from 'node:stream';
import { CopyLines, cutAtBoundaries, decodeCopyText, type PartBoundary } from '../../../functions/core/extract/copy-text';

describe('decodeCopyText', () => {
  it('halves escaped backslashes so JSON escapes survive', () => {
    // PostgreSQL renders the text a\b"c as JSON "a\\b\"c"; COPY text format doubles each backslash.
    const copied = String.raw`{"s" : "a\\\\b\\"c"}`;
    expect(JSON.parse(decodeCopyText(copied))).toEqual({ s: 'a\\b"c' });
  });
  it('decodes control-character escapes', () => {
    expect(decodeCopyText(String.raw`a\tb\nc\\d\101`)).toBe('a\tb\nc\\dA');
  });
});

describe('CopyLines', () => {
  it('splits chunks on line ends, including a multi-byte character cut between chunks', async () => {
    const text = Buffer.from('{"n" : "Zoë"}\n{"n" : "日本"}\n', 'utf8');
    const cut = text.indexOf(Buffer.from('本')) + 1; // inside the 3-byte character
    const lines = new CopyLines((l) => l.toUpperCase());
    const out: string[] = [];
    Readable.from([text.subarray(0, 5), text.subarray(5, cut), text.subarray(cut)]).pipe(lines);
    for await (const chunk of lines) out.push(chunk.toString());
    expect(out.join('')).toBe('{"N" : "ZOË"}\n{"N" : "日本"}\n');
    expect(lines.rows).toBe(2);
    expect(lines.lastLine).toBe('{"N" : "日本"}');
  });
});

describe('cutAtBoundaries', () => {
  it('cuts the output into its parts however it is chunked: boundaries inside, at the end of, or several in one chunk', () => {
    let seed = 11;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let round = 0; round < 500; round++) {
      const total = 1 + Math.floor(rnd() * 300);
      // Boundaries anywhere in the output (some adjacent, some at its very end), as a renderer records them.
      const offsets = [...new Set(Array.from({ length: Math.floor(rnd() * 8) }, () => 1 + Math.floor(rnd() * total)))].sort((a, b) => a - b);
      const output = Buffer.from(Array.from({ length: total }, (_, i) => 97 + (i % 26)));
      const boundaries: PartBoundary[] = offsets.map((offset, i) => ({ offset, rows: i + 1, lastLine: `row ${i + 1}` }));
      const parts: string[] = [''];
      const ended: number[] = [];
      let offset = 0;
      while (offset < total) {
        // Chunks of 1 to 40 bytes: a stream may join several pushes into one read.
        const chunk = output.subarray(offset, offset + 1 + Math.floor(rnd() * 40));
        for (const piece of cutAtBoundaries(chunk, offset, boundaries)) {
          parts[parts.length - 1] += piece.bytes.toString('latin1');
          if (piece.ends) {
            ended.push(piece.ends.offset);
            parts.push('');
          }
        }
        offset += chunk.length;
      }
      expect(boundaries).toEqual([]);
      expect(ended).toEqual(offsets);
      // The part before each boundary, then what follows the last one (empty when it ends the output).
      const starts = [0, ...offsets];
      const ends = [...offsets, total];
      expect(parts).toEqual(starts.map((start, i) => output.toString('latin1', start, ends[i])));
    }
  });

  it('refuses a boundary behind the output already read', () => {
    const boundaries: PartBoundary[] = [{ offset: 3, rows: 1, lastLine: 'x' }];
    expect(() => [...cutAtBoundaries(Buffer.from('abcdef'), 5, boundaries)]).toThrow(/before the output read so far/);
  });
});
