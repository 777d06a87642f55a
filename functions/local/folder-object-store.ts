import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import {
  ObjectExistsError,
  ObjectNotFoundError,
  type ObjectInfo,
  type LocalFiles,
  type ObjectStore,
  type PutOptions,
} from '../core/ports/object-store';

export interface FolderObjectStoreOptions {
  /** How long an object marked by {@link FolderObjectStore.expire} stays readable (default a day, like S3's shortest lifecycle expiration). */
  supersededGraceMs?: number;
  /** The clock the grace period is measured with (tests). */
  now?: () => number;
}

const DEFAULT_SUPERSEDED_GRACE_MS = 24 * 60 * 60_000;
/**
 * The folder's own record of objects marked by `expire`, one JSON list per call named by its time:
 * not an object (`list` never shows it), the local twin of S3's tags and lifecycle rule.
 */
const SUPERSEDED_DIR = '.superseded';

/**
 * A bucket as a folder on disk: the local twin of `aws/s3-object-store.ts`.
 *
 * Writes go to a temporary file first and are renamed into place, so a reader never sees half an
 * object. A conditional write uses `link()`, which fails if the key exists, so two processes
 * racing for one manifest cannot both win (the same guarantee as S3's If-None-Match).
 */
export class FolderObjectStore implements ObjectStore, LocalFiles {
  readonly name: string;
  private readonly supersededGraceMs: number;
  private readonly now: () => number;

  constructor(
    readonly root: string,
    options: FolderObjectStoreOptions = {},
  ) {
    this.root = path.resolve(root);
    this.name = this.root;
    this.supersededGraceMs = options.supersededGraceMs ?? DEFAULT_SUPERSEDED_GRACE_MS;
    this.now = options.now ?? Date.now;
  }

  uri(key: string): string {
    return this.pathOf(key);
  }

  pathOf(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..')) throw new Error(`Invalid object key "${key}" in ${this.name}`);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const target = this.pathOf(key);
    const tmp = await this.tempFor(target);
    await fs.writeFile(tmp, body);
    await this.commit(tmp, target, key, options.ifNoneMatch === true);
  }

  async putStream(key: string, body: Readable): Promise<{ bytes: number }> {
    const target = this.pathOf(key);
    const tmp = await this.tempFor(target);
    let bytes = 0;
    body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(body, createWriteStream(tmp));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await this.commit(tmp, target, key, false);
    return { bytes };
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (err) {
      throw this.notFound(err, key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      await fs.access(file);
    } catch (err) {
      throw this.notFound(err, key);
    }
    return createReadStream(file);
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    const found: string[] = [];
    // Walk only the folder the prefix names (its part up to the last '/'), not the whole bucket; only
    // the keys listed are stat'ed for their size (a manifest log listed after its last known key
    // costs a directory read, not a stat per batch), and only as far as the caller reads: in order,
    // a first key alone, then runs twice as long each time, each run at once (a listing that stops
    // at its first key, the load's first manifest, stats one file, not the whole log).
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const wanted = (key: string): boolean => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter);
    await this.walk(folder ? this.pathOf(folder) : this.root, folder, wanted, found);
    found.sort();
    for (let start = 0, run = 1; start < found.length; start += run, run = Math.min(run * 2, 256)) {
      const sizes = await Promise.all(found.slice(start, start + run).map((key) => this.sizeOf(key)));
      for (const [i, size] of sizes.entries()) if (size !== undefined) yield { key: found[start + i], size };
    }
  }

  /** A file's size; undefined when it was deleted since the directory read (not there any more). */
  private async sizeOf(key: string): Promise<number | undefined> {
    try {
      return (await fs.stat(this.pathOf(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) await fs.rm(this.pathOf(key), { force: true });
  }

  /**
   * Records the keys as superseded, and deletes those recorded by earlier calls whose grace period
   * has passed: a reader that started before the mark still finds them, as on S3.
   */
  async expire(keys: readonly string[]): Promise<void> {
    const dir = path.join(this.root, SUPERSEDED_DIR);
    const now = this.now();
    let ledgers: string[] = [];
    try {
      ledgers = (await fs.readdir(dir)).filter((f) => /^\d{13}-[0-9a-f]+\.json$/.test(f)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const ledger of ledgers) {
      if (Number(ledger.slice(0, 13)) + this.supersededGraceMs > now) break;
      const file = path.join(dir, ledger);
      await this.delete(JSON.parse(await fs.readFile(file, 'utf8')) as string[]);
      await fs.rm(file, { force: true });
    }
    if (!keys.length) return;
    for (const key of keys) this.pathOf(key);
    await fs.mkdir(dir, { recursive: true });
    const name = `${String(now).padStart(13, '0')}-${randomBytes(4).toString('hex')}.json`;
    const tmp = path.join(dir, `.tmp-${name}`);
    await fs.writeFile(tmp, JSON.stringify(keys));
    await fs.rename(tmp, path.join(dir, name));
  }

  /** The keys of the files under `dir` (key `rel`) that `wanted` keeps, into `out`; sub-folders are read at once. */
  private async walk(dir: string, rel: string, wanted: (key: string) => boolean, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.name.startsWith('.tmp-') || (!rel && entry.name === SUPERSEDED_DIR)) return;
        const key = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) return this.walk(path.join(dir, entry.name), key, wanted, out);
        if (entry.isFile() && wanted(key)) out.push(key);
      }),
    );
  }

  private async tempFor(target: string): Promise<string> {
    await fs.mkdir(path.dirname(target), { recursive: true });
    return path.join(path.dirname(target), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  private async commit(tmp: string, target: string, key: string, exclusive: boolean): Promise<void> {
    if (!exclusive) {
      await fs.rename(tmp, target);
      return;
    }
    try {
      await fs.link(tmp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(this.name, key);
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private notFound(err: unknown, key: string): Error {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new ObjectNotFoundError(this.name, key);
    return err as Error;
  }
}
