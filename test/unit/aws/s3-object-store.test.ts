import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { S3ObjectStore } from '../../../functions/aws/s3-object-store';
import { ObjectExistsError, ObjectNotFoundError } from '../../../functions/core/ports/object-store';

const s3 = mockClient(S3Client);
/** A body as the SDK returns it in Node: a Readable with the transform helpers. */
const body = (text: string) => Object.assign(Readable.from([Buffer.from(text)]), { transformToByteArray: async () => new Uint8Array(Buffer.from(text)) });
const serviceError = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

const store = () => new S3ObjectStore('ingest', new S3Client({ region: 'eu-west-2' }), { conflictRetry: { sleep: async () => undefined } });

beforeEach(() => s3.reset());

describe('S3ObjectStore (mocked S3)', () => {
  it('puts with If-None-Match only when asked', async () => {
    s3.on(PutObjectCommand).resolves({});
    await store().put('a.json', '{}', { ifNoneMatch: true, contentType: 'application/json' });
    await store().put('b.json', new Uint8Array([1]));
    const calls = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(calls[0]).toMatchObject({ Bucket: 'ingest', Key: 'a.json', IfNoneMatch: '*', ContentType: 'application/json' });
    expect(calls[1].IfNoneMatch).toBeUndefined();
  });

  it('maps 412 PreconditionFailed to ObjectExistsError', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('PreconditionFailed', 412));
    await expect(store().put('m.json', '{}', { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
  });

  it('retries 409 ConditionalRequestConflict, then reports the loser', async () => {
    s3.on(PutObjectCommand)
      .rejectsOnce(serviceError('ConditionalRequestConflict', 409))
      .rejectsOnce(serviceError('ConditionalRequestConflict', 409))
      .rejects(serviceError('PreconditionFailed', 412));
    await expect(store().put('m.json', '{}', { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(3);
  });

  it('succeeds after a 409 when the conflicting write went away', async () => {
    s3.on(PutObjectCommand).rejectsOnce(serviceError('ConditionalRequestConflict', 409)).resolves({});
    await store().put('m.json', '{}', { ifNoneMatch: true });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('says what failed for other errors, keeping the cause', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('AccessDenied', 403));
    await expect(store().put('x', 'y')).rejects.toThrow('Could not write x to s3://ingest: AccessDenied');
  });

  it('pages through listings with StartAfter on the first page only', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: 'p/2', Size: 2 }], IsTruncated: true, NextContinuationToken: 't1' })
      .resolvesOnce({ Contents: [{ Key: 'p/3', Size: 3 }], IsTruncated: false });
    const seen = [];
    for await (const o of store().list('p/', { startAfter: 'p/1' })) seen.push(o);
    expect(seen).toEqual([{ key: 'p/2', size: 2 }, { key: 'p/3', size: 3 }]);
    const inputs = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ Prefix: 'p/', StartAfter: 'p/1', ContinuationToken: undefined });
    expect(inputs[1]).toMatchObject({ Prefix: 'p/', StartAfter: undefined, ContinuationToken: 't1' });
  });

  it('reads objects and reports missing ones', async () => {
    s3.on(GetObjectCommand, { Key: 'there' }).resolves({ Body: body('hello') as never });
    s3.on(GetObjectCommand, { Key: 'gone' }).rejects(serviceError('NoSuchKey', 404));
    s3.on(HeadObjectCommand, { Key: 'gone' }).rejects(serviceError('NotFound', 404));
    s3.on(HeadObjectCommand, { Key: 'there' }).resolves({});
    expect(Buffer.from(await store().get('there')).toString()).toBe('hello');
    await expect(store().get('gone')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store().exists('gone')).toBe(false);
    expect(await store().exists('there')).toBe(true);
  });

  it('streams a small body in one put and counts its bytes', async () => {
    s3.on(PutObjectCommand).resolves({});
    const { bytes } = await store().putStream('raw/x.ndjson.gz', Readable.from([Buffer.alloc(10), Buffer.alloc(5)]));
    expect(bytes).toBe(15);
  });

  it('streams a large body as a multipart upload', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const part = Buffer.alloc(1024 * 1024);
    const { bytes } = await store().putStream('raw/big', Readable.from(Array.from({ length: 11 }, () => part)));
    expect(bytes).toBe(11 * 1024 * 1024);
    expect(s3.commandCalls(UploadPartCommand)).toHaveLength(2);
  });

  it('fails a stream whose source fails, saying where', async () => {
    s3.on(PutObjectCommand).resolves({});
    const broken = new Readable({ read() { this.destroy(new Error('source broke')); } });
    await expect(store().putStream('raw/x', broken)).rejects.toThrow(/Could not stream raw\/x to s3:\/\/ingest: .*source broke/);
  });

  it('refuses absolute keys', () => {
    expect(() => store().uri('/abs')).toThrow(/Invalid object key/);
    expect(store().uri('a/b')).toBe('s3://ingest/a/b');
  });

  it('addresses the bucket root as the prefix of every object URI', () => {
    // The load turns the file URIs an Athena transform records back into keys with uri('') (offline cloud finding).
    expect(store().uri('')).toBe('s3://ingest/');
    expect(store().uri('star/x/1.parquet').startsWith(store().uri(''))).toBe(true);
  });
});
