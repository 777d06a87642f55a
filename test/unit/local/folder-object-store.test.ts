import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/** The folder store's twin of S3's tag and lifecycle rule: `expire` marks now and deletes after the grace period. */
describe('FolderObjectStore.expire', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-folder-expire-'));
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const keys = async (store: FolderObjectStore) => {
    const out: string[] = [];
    for await (const o of store.list('')) out.push(o.key);
    return out;
  };

  it('keeps marked objects through the grace period and deletes exactly them on the first call after it', async () => {
    let now = 1_000_000_000_000;
    const store = new FolderObjectStore(root, { supersededGraceMs: 60_000, now: () => now });
    for (const k of ['star/f/compacted=a/m=1/p.parquet', 'star/f/compacted=a/m=2/p.parquet', 'star/f/batch_id=b/p.parquet']) await store.put(k, k);
    await store.expire(['star/f/compacted=a/m=1/p.parquet', 'star/f/absent.parquet']);
    now += 30_000;
    await store.expire(['star/f/compacted=a/m=2/p.parquet']);
    expect(await keys(store)).toEqual(['star/f/batch_id=b/p.parquet', 'star/f/compacted=a/m=1/p.parquet', 'star/f/compacted=a/m=2/p.parquet']);

    now += 40_000; // the first mark is 70 s old, the second 40 s
    await store.expire([]);
    expect(await keys(store)).toEqual(['star/f/batch_id=b/p.parquet', 'star/f/compacted=a/m=2/p.parquet']);
    now += 30_000;
    await store.expire([]);
    expect(await keys(store)).toEqual(['star/f/batch_id=b/p.parquet']);
    // The record of marks is the store's own, never an object: nothing left of it once done.
    expect(await fs.readdir(path.join(root, '.superseded'))).toEqual([]);
  });

  it('defaults to a day of grace, and refuses a key outside the store', async () => {
    const store = new FolderObjectStore(root);
    await store.put('a/b', 'x');
    await store.expire(['a/b']);
    await store.expire([]);
    expect(await keys(store)).toEqual(['a/b']);
    await expect(new FolderObjectStore(root, { now: () => Date.now() + 24 * 60 * 60_000 + 1 }).expire([])).resolves.toBeUndefined();
    expect(await keys(store)).toEqual([]);
    await expect(store.expire(['../escape'])).rejects.toThrow(/Invalid object key/);
  });
});

/** A listing stats the keys it returns as the caller reads them, not the whole folder first. */
describe('FolderObjectStore.list', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-folder-list-'));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('lists every key in order with its size, and stats one file for a listing that stops at its first', async () => {
    const store = new FolderObjectStore(root);
    const keys = Array.from({ length: 300 }, (_, i) => `manifests/${String(300 - i).padStart(10, '0')}.json`);
    for (const [i, key] of keys.entries()) await store.put(key, 'x'.repeat(i % 7));
    await store.put('other/a.json', 'a');
    const all: { key: string; size: number }[] = [];
    for await (const o of store.list('manifests/', { startAfter: 'manifests/0000000005.json' })) all.push(o);
    expect(all.map((o) => o.key)).toEqual([...keys].sort().filter((k) => k > 'manifests/0000000005.json'));
    for (const o of all) expect(o.size).toBe(keys.indexOf(o.key) % 7);
    const stat = jest.spyOn(fs, 'stat');
    let first: string | undefined;
    for await (const o of store.list('manifests/')) {
      first = o.key;
      break;
    }
    expect(first).toBe('manifests/0000000001.json');
    expect(stat).toHaveBeenCalledTimes(1);
  });

  it('leaves out a key deleted after the folder was read', async () => {
    const store = new FolderObjectStore(root);
    for (const key of ['m/1', 'm/2', 'm/3']) await store.put(key, key);
    const seen: string[] = [];
    for await (const o of store.list('m/')) {
      seen.push(o.key);
      if (o.key === 'm/1') await store.delete(['m/3']);
    }
    expect(seen).toEqual(['m/1', 'm/2']);
  });
});
