import type { Readable } from 'node:stream';

/**
 * An object store is one bucket: immutable-friendly key/value storage of the lake's files.
 *
 * The cloud adapter is S3 (`aws/s3-object-store.ts`); the local one is a folder per bucket
 * (`local/folder-object-store.ts`). Keys use `/` separators and never start with one.
 */
export interface ObjectStore {
  /** Bucket name (S3) or folder name (local), for messages. */
  readonly name: string;

  /**
   * Address of a key (or of a prefix: `''` is the store's root) that a query engine can read:
   * `s3://bucket/key` or an absolute file path. `uri('')` is the prefix every other address starts
   * with, so an address an engine reports can be turned back into a key.
   */
  uri(key: string): string;

  /**
   * Writes a whole object. With `ifNoneMatch`, the write succeeds only if the key does not exist
   * yet, atomically; otherwise it throws {@link ObjectExistsError} and nothing is changed.
   */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;

  /** Streams an object of any size (multipart on S3) without holding it in memory. */
  putStream(key: string, body: Readable, options?: Omit<PutOptions, 'ifNoneMatch'>): Promise<{ bytes: number }>;

  /** Reads a whole object; throws {@link ObjectNotFoundError} when absent. */
  get(key: string): Promise<Uint8Array>;

  /** Reads an object as a stream; throws {@link ObjectNotFoundError} when absent. */
  getStream(key: string): Promise<Readable>;

  exists(key: string): Promise<boolean>;

  /** Lists keys under a prefix in ascending key order, paging as needed. */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo>;

  /**
   * Deletes objects; absent keys are ignored. The pipeline calls it only on the processed store,
   * to clear a staged location that a dead attempt left half-written (Athena's CTAS needs an
   * empty location). Nothing in the ingestion store is ever deleted.
   */
  delete(keys: readonly string[]): Promise<void>;

  /**
   * Marks objects the pipeline will never read again (a fact's months a later compaction replaced,
   * an unpublished compaction a crash left behind: transform/fact-compaction.ts); the store removes
   * them after its grace period, so a query already reading them can finish. S3 tags each object
   * with {@link SUPERSEDED_TAG} for the processed bucket's lifecycle rule `expire-superseded`
   * (cdktf/storage/lake-buckets.ts, variable `superseded_expiration_days`); the folder store records
   * them and deletes them on a later call once its grace period has passed. Absent keys are ignored.
   * Only ever called on the processed store, never with a key a manifest lists.
   */
  expire(keys: readonly string[]): Promise<void>;
}

/** The S3 object tag of an object marked by {@link ObjectStore.expire}, which the processed bucket's lifecycle rule expires. */
export const SUPERSEDED_TAG = { key: 'totes-lake-superseded', value: 'true' } as const;

/**
 * A store whose objects are files on this machine (`local/folder-object-store.ts`): `pathOf` gives
 * the file of a key, or the folder of a prefix, so an engine can read and write them in place (the
 * DuckDB engine reads raw and Parquet files by path; the Trino engine clears and names its outputs).
 */
export interface LocalFiles {
  pathOf(key: string): string;
}

/** The store's {@link LocalFiles} capability, or undefined when its objects are not local files (S3). */
export function localFiles(store: ObjectStore): (ObjectStore & LocalFiles) | undefined {
  return typeof (store as Partial<LocalFiles>).pathOf === 'function' ? (store as ObjectStore & LocalFiles) : undefined;
}

export interface PutOptions {
  ifNoneMatch?: boolean;
  contentType?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
}

export class ObjectExistsError extends Error {
  constructor(readonly store: string, readonly key: string) {
    super(`Object ${key} already exists in ${store}; it is never overwritten`);
    this.name = 'ObjectExistsError';
  }
}

export class ObjectNotFoundError extends Error {
  constructor(readonly store: string, readonly key: string) {
    super(`Object ${key} not found in ${store}`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Reads an object as UTF-8 text. */
export async function getText(store: ObjectStore, key: string): Promise<string> {
  return Buffer.from(await store.get(key)).toString('utf8');
}
