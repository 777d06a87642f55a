import { Readable } from 'node:stream';
import { ObjectExistsError, ObjectNotFoundError, getText, type ObjectStore } from '../../../functions/core/ports/object-store';

/**
 * What every ObjectStore adapter promises (functions/core/ports/object-store.ts), run against each
 * one (object-store.test.ts): the local folder store and S3. Above all the conditional put: a
 * manifest is published with `ifNoneMatch`, and exactly-once rests on exactly one writer winning.
 *
 * `open` gives an empty store; each test writes under its own prefix, so one store serves the suite.
 */
export function objectStoreContract(open: () => Promise<{ store: ObjectStore; close?: () => Promise<void> }>): void {
  let store: ObjectStore;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ store, close } = await open());
  });
  afterAll(async () => {
    await close?.();
  });

  const keys = async (prefix: string, startAfter?: string): Promise<string[]> => {
    const found: string[] = [];
    for await (const o of store.list(prefix, startAfter === undefined ? undefined : { startAfter })) found.push(o.key);
    return found;
  };

  it('puts and gets text and bytes, and overwrites without ifNoneMatch', async () => {
    await store.put('put/a.json', '{"v":1}', { contentType: 'application/json' });
    expect(await getText(store, 'put/a.json')).toBe('{"v":1}');
    await store.put('put/a.json', '{"v":2}');
    expect(await getText(store, 'put/a.json')).toBe('{"v":2}');
    const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
    await store.put('put/b.bin', bytes);
    expect(Buffer.from(await store.get('put/b.bin'))).toEqual(Buffer.from(bytes));
  });

  it('reports absent objects: get and getStream throw ObjectNotFoundError, exists is false', async () => {
    await expect(store.get('absent/x.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getStream('absent/x.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.exists('absent/x.json')).toBe(false);
    await store.put('absent/y.json', 'y');
    expect(await store.exists('absent/y.json')).toBe(true);
  });

  it('lists keys under a prefix in ascending order with sizes, and from startAfter', async () => {
    for (const n of [3, 1, 5, 2, 4]) await store.put(`list/m/000000000${n}.json`, 'x'.repeat(n));
    await store.put('list/m0/0000000009.json', 'outside'); // shares the prefix's text, not its folder
    await store.put('list/n/0000000001.json', 'outside');
    const all = [1, 2, 3, 4, 5].map((n) => `list/m/000000000${n}.json`);
    expect(await keys('list/m/')).toEqual(all);
    expect(await keys('list/m/', 'list/m/0000000002.json')).toEqual(all.slice(2));
    expect(await keys('list/m/', 'list/m/0000000005.json')).toEqual([]);
    expect(await keys('list/none/')).toEqual([]);
    const sizes: number[] = [];
    for await (const o of store.list('list/m/')) sizes.push(o.size);
    expect(sizes).toEqual([1, 2, 3, 4, 5]);
  });

  it('deletes objects and ignores absent keys', async () => {
    await store.put('delete/a', 'a');
    await store.put('delete/b', 'b');
    await store.delete(['delete/a', 'delete/never']);
    expect(await keys('delete/')).toEqual(['delete/b']);
    await store.delete([]);
    expect(await store.exists('delete/b')).toBe(true);
  });

  it('expire marks objects without removing them at once (readers in flight finish), and ignores absent keys', async () => {
    await store.put('expire/a', 'a');
    await store.put('expire/b', 'b');
    await store.expire(['expire/a', 'expire/never']);
    await store.expire([]);
    expect(await keys('expire/')).toEqual(['expire/a', 'expire/b']);
    expect(await getText(store, 'expire/a')).toBe('a');
    expect(await keys('')).not.toContain(expect.stringMatching(/superseded/));
  });

  it('streams a body in and out, counting its bytes', async () => {
    const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const { bytes } = await store.putStream('stream/big.bin', Readable.from(parts));
    expect(bytes).toBe(64 * 16 * 1024);
    const read: Buffer[] = [];
    for await (const c of await store.getStream('stream/big.bin')) read.push(c as Buffer);
    expect(Buffer.concat(read)).toEqual(Buffer.concat(parts));
  });

  it('writes a conditional put once: a second one throws ObjectExistsError and changes nothing', async () => {
    await store.put('cond/manifest.json', '{"writer":"first"}', { ifNoneMatch: true });
    await expect(store.put('cond/manifest.json', '{"writer":"second"}', { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect(JSON.parse(await getText(store, 'cond/manifest.json'))).toEqual({ writer: 'first' });
    expect(await keys('cond/')).toEqual(['cond/manifest.json']);
  });

  it('lets exactly one of concurrent conditional puts of one key win, and keeps the winner', async () => {
    for (const writers of [2, 8]) {
      const key = `race/${writers}/manifest.json`;
      const results = await Promise.allSettled(
        Array.from({ length: writers }, (_, i) => store.put(key, JSON.stringify({ writer: i }), { ifNoneMatch: true })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(writers - 1);
      for (const l of lost) expect(l.reason).toBeInstanceOf(ObjectExistsError);
      expect(JSON.parse(await getText(store, key))).toEqual({ writer: won[0] });
      expect(await keys(`race/${writers}/`)).toEqual([key]);
    }
  });

  it('addresses keys under uri(\'\'), so an address can be turned back into a key', () => {
    const root = store.uri('');
    expect(store.uri('a/b.json').startsWith(root)).toBe(true);
    expect(store.uri('a/b.json').slice(root.length).replace(/^\/+/, '')).toBe('a/b.json');
  });
}
