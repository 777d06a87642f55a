import { CreateBucketCommand, GetObjectTaggingCommand, HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3ObjectStore } from '../../../functions/aws/s3-object-store';
import { ObjectExistsError, ObjectNotFoundError, SUPERSEDED_TAG, getText } from '../../../functions/core/ports/object-store';
import { describeIfMoto, startMotoServer, type MotoServer } from '../../support/moto-server';

/** Deterministic pseudo-random bytes (incompressible, so parts are really 5 MiB on the wire). */
function* chunks(total: number, size: number): Generator<Buffer> {
  let seed = 1;
  for (let sent = 0; sent < total; sent += size) {
    const n = Math.min(size, total - sent);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      buf[i] = seed >> 16;
    }
    yield buf;
  }
}

describeIfMoto('S3ObjectStore against moto', () => {
  let moto: MotoServer;
  let client: S3Client;
  let store: S3ObjectStore;

  beforeAll(async () => {
    moto = await startMotoServer();
    client = new S3Client(moto.clientConfig);
    await client.send(new CreateBucketCommand({ Bucket: 'ingestion', CreateBucketConfiguration: { LocationConstraint: 'eu-west-2' } }));
    store = new S3ObjectStore('ingestion', client, { partSize: 5 * 1024 * 1024, pageSize: 2 });
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it('streams a 12 MiB body as a multipart upload and reads back the same bytes', async () => {
    const total = 12 * 1024 * 1024 + 123;
    const expected = createHash('sha256');
    for (const c of chunks(total, 256 * 1024)) expected.update(c);
    const { bytes } = await store.putStream('raw/sales_order/dt=2026-11-25/big.ndjson.gz', Readable.from(chunks(total, 256 * 1024)));
    expect(bytes).toBe(total);
    const actual = createHash('sha256');
    for await (const c of await store.getStream('raw/sales_order/dt=2026-11-25/big.ndjson.gz')) actual.update(c as Buffer);
    expect(actual.digest('hex')).toBe(expected.digest('hex'));
    // A multipart object's ETag ends with -<parts>: 12 MiB in 5 MiB parts is three.
    const head = await client.send(new HeadObjectCommand({ Bucket: 'ingestion', Key: 'raw/sales_order/dt=2026-11-25/big.ndjson.gz' }));
    expect(head.ETag).toMatch(/-3"?$/);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: 'ingestion' }));
    expect(uploads.Uploads ?? []).toHaveLength(0);
  });

  it('lets exactly one of two concurrent conditional puts win, and keeps the winner', async () => {
    const key = 'manifests/extract/0000000001.json';
    const results = await Promise.allSettled([
      store.put(key, '{"writer":"a"}', { ifNoneMatch: true }),
      store.put(key, '{"writer":"b"}', { ifNoneMatch: true }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBeInstanceOf(ObjectExistsError);
    const winner = results[0].status === 'fulfilled' ? 'a' : 'b';
    expect(JSON.parse(await getText(store, key))).toEqual({ writer: winner });
    // A later conditional put loses too and changes nothing.
    await expect(store.put(key, '{"writer":"c"}', { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect(JSON.parse(await getText(store, key))).toEqual({ writer: winner });
  });

  it('lists in key order across pages, from startAfter', async () => {
    for (const n of [3, 1, 5, 2, 4]) await store.put(`manifests/transform/000000000${n}.json`, `{"n":${n}}`);
    const all: string[] = [];
    for await (const o of store.list('manifests/transform/')) all.push(o.key);
    expect(all).toEqual([1, 2, 3, 4, 5].map((n) => `manifests/transform/000000000${n}.json`));
    const after: string[] = [];
    for await (const o of store.list('manifests/transform/', { startAfter: 'manifests/transform/0000000002.json' })) after.push(o.key);
    expect(after).toEqual([3, 4, 5].map((n) => `manifests/transform/000000000${n}.json`));
    const sizes: number[] = [];
    for await (const o of store.list('manifests/transform/0000000001')) sizes.push(o.size);
    expect(sizes).toEqual([7]);
  });

  it('reports absent objects', async () => {
    await expect(store.get('nope.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getStream('nope.json')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.exists('nope.json')).toBe(false);
    expect(await store.exists('manifests/transform/0000000001.json')).toBe(true);
    expect(store.uri('a/b.json')).toBe('s3://ingestion/a/b.json');
  });

  it('expire tags each object for the lifecycle rule expire-superseded, and leaves it readable', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `star/fact_x/compacted=c/created_month=2024-0${(i % 9) + 1}/part-${i}.parquet`);
    await Promise.all(keys.map((k) => store.put(k, k)));
    await store.put('star/fact_x/batch_id=b/part-0.parquet', 'kept');
    await store.expire([...keys, 'star/fact_x/absent.parquet']);
    for (const key of keys) {
      const { TagSet } = await client.send(new GetObjectTaggingCommand({ Bucket: 'ingestion', Key: key }));
      expect(TagSet).toEqual([{ Key: SUPERSEDED_TAG.key, Value: SUPERSEDED_TAG.value }]);
      expect(await getText(store, key)).toBe(key);
    }
    const untouched = await client.send(new GetObjectTaggingCommand({ Bucket: 'ingestion', Key: 'star/fact_x/batch_id=b/part-0.parquet' }));
    expect(untouched.TagSet).toEqual([]);
  });
});
