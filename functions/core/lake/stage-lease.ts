import { hostname } from 'node:os';
import { z } from 'zod';
import { getText, ObjectExistsError, type ObjectStore } from '../ports/object-store';
import { leaseKey, leasePrefix, parseLeaseKey } from './lake-layout';
import { processIsAlive } from '../process-liveness';

/**
 * A lease lets one run at a time work on one batch of a stage whose outputs have fixed locations
 * (the transform writes `current/<table>/<batch>/`, `star/…/<batch>/`): two runs writing the same
 * location at once could each read the other's half-written files.
 *
 * A run takes attempt N+1 of the batch with a conditional put of `leases/<stage>/<seq>/<N+1>.json`,
 * which at most one run can win; it may do so only when attempt N is released, expired, or held by
 * a process on this machine that no longer exists. The lease store needs nothing but conditional
 * puts, so it works on S3 and on a folder alike, and a lease outlives a crash only until it expires.
 */
const LeaseRecord = z.object({
  stage: z.string(),
  seq: z.number().int(),
  attempt: z.number().int().positive(),
  holder: z.object({ host: z.string(), pid: z.number().int() }),
  takenAt: z.string(),
  expiresAt: z.string(),
});
type LeaseRecord = z.infer<typeof LeaseRecord>;

export interface Lease {
  attempt: number;
  /** Gives the batch back (after a failure), so the next run need not wait for the expiry. */
  release(): Promise<void>;
}

export type LeaseOutcome = { lease: Lease } | { busy: LeaseRecord };

export async function acquireLease(
  store: ObjectStore,
  stage: string,
  seq: number,
  options: { ttlMs: number; now: () => Date },
): Promise<LeaseOutcome> {
  let last: { attempt: number; released: boolean; key: string } | undefined;
  for await (const { key } of store.list(leasePrefix(stage, seq))) {
    const parsed = parseLeaseKey(key);
    if (!parsed) continue;
    const { attempt, released } = parsed;
    if (!last || attempt > last.attempt || (attempt === last.attempt && released)) last = { attempt, released, key };
  }
  if (last && !last.released) {
    const held = LeaseRecord.parse(JSON.parse(await getText(store, last.key)));
    const expired = Date.parse(held.expiresAt) <= options.now().getTime();
    const holderGone = held.holder.host === hostname() && !processIsAlive(held.holder.pid);
    if (!expired && !holderGone) return { busy: held };
  }
  const attempt = (last?.attempt ?? 0) + 1;
  const now = options.now();
  const record: LeaseRecord = {
    stage,
    seq,
    attempt,
    holder: { host: hostname(), pid: process.pid },
    takenAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
  };
  try {
    await store.put(leaseKey(stage, seq, attempt), JSON.stringify(record, null, 2), { ifNoneMatch: true, contentType: 'application/json' });
  } catch (err) {
    if (err instanceof ObjectExistsError) return { busy: LeaseRecord.parse(JSON.parse(await getText(store, leaseKey(stage, seq, attempt)))) };
    throw err;
  }
  return {
    lease: {
      attempt,
      release: async () => {
        await store.put(leaseKey(stage, seq, attempt, true), JSON.stringify({ ...record, releasedAt: new Date().toISOString() }), { contentType: 'application/json' });
      },
    },
  };
}

