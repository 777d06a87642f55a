import {
  currentPrefix,
  deletionKey,
  extractManifestKey,
  factBatchPrefix,
  leaseKey,
  manifestSeq,
  newBatchId,
  parseCurrentPrefix,
  parseDeletionKey,
  parseFactBatchPrefix,
  parseLeaseKey,
  parseRawKey,
  rawKey,
  transformManifestKey,
} from '../../../functions/core/lake/lake-layout';

/** Every key lake-layout builds and the pipeline reads back parses to what built it. */
const BATCH = newBatchId(7, new Date('2026-11-25T20:41:00Z'), '3f9a');

it('parses a raw key, whole or chunked, back to its partition and batch', () => {
  expect(parseRawKey('staff', rawKey('staff', BATCH))).toEqual({ dt: '2026-11-25', batchId: BATCH });
  expect(parseRawKey('staff', rawKey('staff', BATCH, { index: 3, nonce: 'beef' }))).toEqual({ dt: '2026-11-25', batchId: BATCH });
  expect(() => parseRawKey('address', rawKey('staff', BATCH))).toThrow(/not a raw key of table address/);
});

it('parses current-state and fact batch prefixes back to table and batch', () => {
  expect(parseCurrentPrefix(currentPrefix('staff', BATCH))).toEqual({ table: 'staff', batchId: BATCH });
  expect(() => parseCurrentPrefix(`star/dim_staff/${BATCH}/`)).toThrow(/not a current-state prefix/);
  expect(parseFactBatchPrefix(factBatchPrefix('fact_payment', BATCH))).toEqual({ table: 'fact_payment', batchId: BATCH });
  expect(parseFactBatchPrefix(`star/dim_staff/${BATCH}/`)).toBeUndefined();
});

it('parses lease keys back to attempt and release', () => {
  expect(parseLeaseKey(leaseKey('transform', 7, 2))).toEqual({ attempt: 2, released: false });
  expect(parseLeaseKey(leaseKey('transform', 7, 2, true))).toEqual({ attempt: 2, released: true });
  expect(parseLeaseKey('leases/transform/0000000007/notes.txt')).toBeUndefined();
});

it('parses deletion-marker keys back to table, partition and batch', () => {
  expect(deletionKey('staff', BATCH)).toBe(`deletions/staff/dt=2026-11-25/${BATCH}.ndjson.gz`);
  expect(parseDeletionKey(deletionKey('staff', BATCH))).toEqual({ table: 'staff', dt: '2026-11-25', batchId: BATCH });
  expect(parseDeletionKey(rawKey('staff', BATCH))).toBeUndefined();
  expect(parseDeletionKey('deletions/staff/dt=2026-11-25/notes.ndjson.gz')).toBeUndefined();
});

it('parses manifest keys of both logs back to their seq', () => {
  expect(extractManifestKey(7)).toBe('manifests/extract/0000000007.json');
  expect(manifestSeq(extractManifestKey(7))).toBe(7);
  expect(manifestSeq(transformManifestKey(12))).toBe(12);
  expect(manifestSeq('manifests/transform/notes.json')).toBeUndefined();
});
