import { Readable } from 'node:stream';
import { CopyLines, decodeCopyText } from '../../../functions/core/extract/copy-text';

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
