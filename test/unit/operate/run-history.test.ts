import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RUNS_PREFIX, runRecordKey } from '../../../functions/core/lake/lake-layout';
import { readRunHistory } from '../../../functions/core/operate/run-history';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/**
 * Which run records `readRunHistory` reads, and how it finds them: the newest `last` by a listing
 * that starts a day before `now` (keys begin with the run's start time), the whole history only
 * when that day holds too few. The records here are not valid JSON of a run, so each key read is
 * reported back as unreadable: that is the list of keys it chose.
 */
describe('readRunHistory: the latest runs at the cost of the latest day', () => {
  const now = new Date('2026-12-07T12:00:00.000Z');
  const at = (hoursAgo: number): Date => new Date(now.getTime() - hoursAgo * 3_600_000);

  async function history(hoursAgo: number[]) {
    const store = new FolderObjectStore(mkdtempSync(path.join(os.tmpdir(), 'totes-runs-')));
    const starts: (string | undefined)[] = [];
    const list = store.list.bind(store);
    store.list = (prefix: string, options?: { startAfter?: string }) => {
      if (prefix === RUNS_PREFIX) starts.push(options?.startAfter);
      return list(prefix, options);
    };
    const keys = hoursAgo.map((h, i) => runRecordKey(at(h), i % 2 ? undefined : `00000000${String(i + 1).padStart(2, '0')}-20261207T000000Z-abcd`));
    for (const key of keys) await store.put(key, 'not a run');
    return { store, starts, keys };
  }
  const read = async (store: FolderObjectStore, options: Parameters<typeof readRunHistory>[1]) => (await readRunHistory(store, options)).unreadable.map((u) => u.key);

  it('lists from a day before now when that day holds the runs asked for', async () => {
    const { store, starts, keys } = await history([24 * 90, 48, 23.5, 3, 2, 1, 0.25, -0.1]);
    expect(await read(store, { last: 3, now })).toEqual(keys.slice(-3));
    expect(starts).toEqual([`${RUNS_PREFIX}20261206T120000.000Z`]);
  });

  it('lists the whole history when the last day holds fewer, with the same answer', async () => {
    const { store, starts, keys } = await history([24 * 90, 48, 30, 3, 1]);
    expect(await read(store, { last: 4, now })).toEqual(keys.slice(-4));
    expect(starts).toEqual([`${RUNS_PREFIX}20261206T120000.000Z`, undefined]);
    starts.length = 0;
    expect(await read(store, {})).toEqual(keys); // every record, from one listing
    expect(starts).toEqual([undefined]);
  });
});
