import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireLease } from '../../../functions/core/lake/stage-lease';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

const store = () => new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-lease-')));
const at = (iso: string) => () => new Date(iso);
const TTL = 60_000;

describe('acquireLease', () => {
  it('lets one run hold a batch; a second is told who holds it', async () => {
    const s = store();
    const first = await acquireLease(s, 'transform', 7, { ttlMs: TTL, now: at('2026-11-25T10:00:00Z') });
    expect('lease' in first && first.lease.attempt).toBe(1);
    const second = await acquireLease(s, 'transform', 7, { ttlMs: TTL, now: at('2026-11-25T10:00:30Z') });
    expect('busy' in second && second.busy).toMatchObject({ attempt: 1, holder: { pid: process.pid }, expiresAt: '2026-11-25T10:01:00.000Z' });
    // Other batches are independent.
    expect('lease' in (await acquireLease(s, 'transform', 8, { ttlMs: TTL, now: at('2026-11-25T10:00:30Z') }))).toBe(true);
  });

  it('hands the batch over after a release or an expiry, with the next attempt number', async () => {
    const s = store();
    const first = await acquireLease(s, 'transform', 1, { ttlMs: TTL, now: at('2026-11-25T10:00:00Z') });
    if (!('lease' in first)) throw new Error('expected a lease');
    await first.lease.release();
    const second = await acquireLease(s, 'transform', 1, { ttlMs: TTL, now: at('2026-11-25T10:00:01Z') });
    expect('lease' in second && second.lease.attempt).toBe(2);
    const third = await acquireLease(s, 'transform', 1, { ttlMs: TTL, now: at('2026-11-25T10:01:02Z') });
    expect('lease' in third && third.lease.attempt).toBe(3);
  });

  it('takes over at once from a holder process on this machine that no longer exists', async () => {
    const s = store();
    await s.put(
      'leases/transform/0000000003/0001.json',
      JSON.stringify({ stage: 'transform', seq: 3, attempt: 1, holder: { host: os.hostname(), pid: 2 ** 22 + 12345 }, takenAt: '2026-11-25T10:00:00Z', expiresAt: '2026-11-25T11:00:00Z' }),
    );
    const taken = await acquireLease(s, 'transform', 3, { ttlMs: TTL, now: at('2026-11-25T10:00:05Z') });
    expect('lease' in taken && taken.lease.attempt).toBe(2);
  });

  it('lets exactly one of two simultaneous runs win', async () => {
    const s = store();
    const both = await Promise.all([0, 1].map(() => acquireLease(s, 'transform', 5, { ttlMs: TTL, now: at('2026-11-25T10:00:00Z') })));
    expect(both.filter((o) => 'lease' in o)).toHaveLength(1);
    expect(both.filter((o) => 'busy' in o)).toHaveLength(1);
  });
});
