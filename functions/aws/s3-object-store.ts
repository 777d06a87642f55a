import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ObjectExistsError,
  ObjectNotFoundError,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  SUPERSEDED_TAG,
} from '../core/ports/object-store';
import { errorName, httpStatus, retryWithBackoff, type BackoffOptions } from './retry-with-backoff';

export interface S3ObjectStoreOptions {
  /** Multipart part size in bytes (S3 minimum 5 MiB). Memory held by an upload is about partSize × queueSize. */
  partSize?: number;
  /** Parts uploaded in parallel. */
  queueSize?: number;
  /** Keys per ListObjectsV2 page (S3 maximum and default 1000; small in tests to exercise paging). */
  pageSize?: number;
  /** Backoff for 409 ConditionalRequestConflict on a conditional put. */
  conflictRetry?: Partial<BackoffOptions>;
}

const MIB = 1024 * 1024;
/** Objects tagged at once by {@link S3ObjectStore.expire}. */
const EXPIRE_CONCURRENCY = 16;

/**
 * One S3 bucket as the pipeline's object store: the cloud twin of `local/folder-object-store.ts`.
 *
 * A conditional put sends `If-None-Match: *`, so S3 itself decides a race for a manifest: the
 * loser gets 412 PreconditionFailed, surfaced as {@link ObjectExistsError}. A 409
 * ConditionalRequestConflict (a concurrent write still in flight) is retried, after which the
 * loser sees 412. Large objects stream through a multipart upload of bounded memory. Each
 * request is retried by the SDK client (adaptive mode, see `AWS_CLIENT_RETRY`).
 */
export class S3ObjectStore implements ObjectStore {
  readonly name: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number | undefined;
  private readonly conflictRetry: BackoffOptions;

  constructor(
    readonly bucket: string,
    private readonly client: S3Client,
    options: S3ObjectStoreOptions = {},
  ) {
    this.name = `s3://${bucket}`;
    this.partSize = Math.max(5 * MIB, options.partSize ?? 8 * MIB);
    this.queueSize = options.queueSize ?? 2;
    this.pageSize = options.pageSize;
    this.conflictRetry = { attempts: 5, baseDelayMs: 200, maxDelayMs: 3000, ...options.conflictRetry };
  }

  uri(key: string): string {
    // '' is the bucket's root (a prefix, never an object): the load turns Athena's file URIs back into keys with it.
    return key === '' ? `s3://${this.bucket}/` : `s3://${this.bucket}/${checkKey(key, this.name)}`;
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: checkKey(key, this.name),
      Body: body,
      ContentType: options.contentType,
      IfNoneMatch: options.ifNoneMatch ? '*' : undefined,
    });
    try {
      await retryWithBackoff(() => this.client.send(command), isConditionalConflict, this.conflictRetry);
    } catch (err) {
      if (options.ifNoneMatch && isPreconditionFailed(err)) throw new ObjectExistsError(this.name, key);
      throw wrap(err, `write ${key} to ${this.name}`);
    }
  }

  async putStream(key: string, body: Readable, options: Omit<PutOptions, 'ifNoneMatch'> = {}): Promise<{ bytes: number }> {
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: checkKey(key, this.name), Body: counter, ContentType: options.contentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // A failed upload aborts its multipart upload, so no invisible parts are left to bill.
      leavePartsOnError: false,
    });
    const feeding = pipeline(body, counter);
    try {
      await Promise.all([upload.done(), feeding]);
    } catch (err) {
      counter.destroy();
      await upload.abort().catch(() => undefined);
      throw wrap(err, `stream ${key} to ${this.name}`);
    }
    return { bytes };
  }

  async get(key: string): Promise<Uint8Array> {
    const res = await this.getObject(key);
    if (!res.Body) throw new Error(`S3 returned no body for ${key} in ${this.name}`);
    return res.Body.transformToByteArray();
  }

  async getStream(key: string): Promise<Readable> {
    const res = await this.getObject(key);
    if (!(res.Body instanceof Readable)) throw new Error(`S3 returned no readable body for ${key} in ${this.name}`);
    return res.Body;
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1,000 keys a call.
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      let result;
      try {
        result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk.map((k) => ({ Key: checkKey(k, this.name) })), Quiet: true } }),
        );
      } catch (err) {
        throw wrap(err, `delete ${chunk.length} objects from ${this.name}`);
      }
      const failed = result?.Errors ?? [];
      if (failed.length) {
        throw new Error(`Could not delete ${failed.length} objects from ${this.name}, e.g. ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`);
      }
    }
  }

  async expire(keys: readonly string[]): Promise<void> {
    // One PutObjectTagging per object (S3 has no batch form outside S3 Batch Operations), a few at a
    // time; the lifecycle rule `expire-superseded` removes tagged objects after its days.
    const tag = (key: string) =>
      this.client
        .send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key: checkKey(key, this.name), Tagging: { TagSet: [{ Key: SUPERSEDED_TAG.key, Value: SUPERSEDED_TAG.value }] } }))
        .catch((err: unknown) => {
          if (isNotFound(err)) return;
          throw wrap(err, `mark ${key} in ${this.name} as superseded`);
        });
    for (let i = 0; i < keys.length; i += EXPIRE_CONCURRENCY) await Promise.all(keys.slice(i, i + EXPIRE_CONCURRENCY).map(tag));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: checkKey(key, this.name) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw wrap(err, `check ${key} in ${this.name}`);
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            // StartAfter only matters on the first page; later pages continue from the token.
            StartAfter: token === undefined ? options.startAfter : undefined,
            ContinuationToken: token,
            MaxKeys: this.pageSize,
          }),
        );
      } catch (err) {
        throw wrap(err, `list ${prefix} in ${this.name}`);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  private async getObject(key: string) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: checkKey(key, this.name) }));
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(this.name, key);
      throw wrap(err, `read ${key} from ${this.name}`);
    }
  }
}

function checkKey(key: string, store: string): string {
  if (key === '' || key.startsWith('/')) throw new Error(`Invalid object key "${key}" in ${store}: keys are relative and non-empty`);
  return key;
}

function isPreconditionFailed(err: unknown): boolean {
  return errorName(err) === 'PreconditionFailed' || httpStatus(err) === 412;
}

function isConditionalConflict(err: unknown): boolean {
  return errorName(err) === 'ConditionalRequestConflict' || httpStatus(err) === 409;
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

/** Keeps the SDK error as the cause, and says what we were doing. */
function wrap(err: unknown, doing: string): Error {
  if (err instanceof ObjectExistsError || err instanceof ObjectNotFoundError) return err;
  const e = err as Error;
  return new Error(`Could not ${doing}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`, { cause: err });
}
