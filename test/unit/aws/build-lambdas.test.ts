import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { buildLambda, LAMBDAS } from '../../../functions/build/build-lambdas';
import { writeZip } from '../../../functions/build/zip-writer';

/** Reads a zip through its central directory, as Lambda's unzip does. */
function readZip(zip: Buffer): Map<string, Buffer> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const body = zip.subarray(dataStart, dataStart + size);
    files.set(name, method === 8 ? inflateRawSync(body) : Buffer.from(body));
    at += 46 + nameLength + extra;
  }
  return files;
}

describe('zip writer', () => {
  it('round-trips stored and deflated entries and is deterministic', () => {
    const entries = [
      { name: 'index.js', data: Buffer.from('exports.handler = async () => 1;\n'.repeat(50)) },
      { name: 'sql/x.sql', data: Buffer.from([1, 2, 3]) },
    ];
    const zip = writeZip(entries);
    const files = readZip(zip);
    expect(files.get('index.js')!.toString()).toBe(entries[0].data.toString());
    expect([...files.get('sql/x.sql')!]).toEqual([1, 2, 3]);
    expect(writeZip(entries).equals(zip)).toBe(true);
    expect(() => writeZip([entries[1], entries[1]])).toThrow(/Duplicate/);
  });
});

describe('build:lambdas', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'totes-lambdas-'));

  it.each(LAMBDAS.map((l) => [l.name, l] as const))('bundles %s into a zip whose index.js exports handler, without DuckDB', async (_name, lambda) => {
    const built = await buildLambda(lambda, out);
    const files = readZip(readFileSync(built.zip));
    expect(files.has('index.js')).toBe(true);
    for (const dir of lambda.sql) expect([...files.keys()].some((f) => f.startsWith(`${dir}/`))).toBe(true);
    const index = files.get('index.js')!.toString();
    expect(index).not.toMatch(/@duckdb\/node-bindings|duckdb\.node/);
    // Load it as Lambda would: from the unzipped folder.
    const dir = path.join(out, `unzipped-${lambda.name}`);
    for (const [name, data] of files) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), data);
    }
    const mod = createRequire(path.join(dir, 'index.js'))('./index.js') as { handler?: unknown };
    expect(typeof mod.handler).toBe('function');
    expect(built.bytes).toBeLessThan(5 * 1024 * 1024);
  });
});
