import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXTRACT_MANIFEST_PREFIX, extractManifestKey } from '../../../functions/core/lake/lake-layout';
import { newestManifestSeq } from '../../../functions/core/lake/manifest-log';
import type { ObjectStore } from '../../../functions/core/ports/object-store';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/** A folder store that records where each listing of `prefix` started. */
function recordingStore(root: string): { store: ObjectStore; starts: (string | undefined)[] } {
  const folder = new FolderObjectStore(root);
  const starts: (string | undefined)[] = [];
  const list = folder.list.bind(folder);
  folder.list = (prefix: string, options?: { startAfter?: string }) => {
    if (prefix === EXTRACT_MANIFEST_PREFIX) starts.push(options?.startAfter);
    return list(prefix, options);
  };
  return { store: folder, starts };
}

async function publish(store: ObjectStore, ...seqs: number[]): Promise<void> {
  for (const seq of seqs) await store.put(extractManifestKey(seq), '{}');
}

describe('newestManifestSeq: the newest manifest of a log, at the cost of the batches since it was last seen', () => {
  it('lists the log whole once, then from the newest manifest it saw, finding every later one', async () => {
    const { store, starts } = recordingStore(mkdtempSync(path.join(os.tmpdir(), 'totes-log-')));
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBeUndefined();
    await publish(store, 1, 2, 3, 4, 5);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(5);
    await publish(store, 6, 7);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(7);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(7);
    // The first two looks listed the log from its beginning; later ones from just before the newest seen.
    expect(starts).toEqual([undefined, undefined, extractManifestKey(4), extractManifestKey(6)]);
  });

  it('lists the log whole again when the manifest it remembers is gone (a lake replaced under the same name)', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'totes-log-'));
    const first = recordingStore(root);
    await publish(first.store, 1, 2, 3, 4, 5, 6);
    expect(await newestManifestSeq(first.store, EXTRACT_MANIFEST_PREFIX)).toBe(6);
    rmSync(root, { recursive: true, force: true });
    const second = recordingStore(root);
    await publish(second.store, 1, 2, 3);
    expect(await newestManifestSeq(second.store, EXTRACT_MANIFEST_PREFIX)).toBe(3);
    expect(second.starts).toEqual([extractManifestKey(5), undefined]);
    // And once the log is empty again, it says so.
    rmSync(root, { recursive: true, force: true });
    expect(await newestManifestSeq(recordingStore(root).store, EXTRACT_MANIFEST_PREFIX)).toBeUndefined();
  });
});
