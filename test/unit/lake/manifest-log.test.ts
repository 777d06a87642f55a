import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXTRACT_MANIFEST_PREFIX, extractManifestKey } from '../../../functions/core/lake/lake-layout';
import { manifestSeqsAfter, newestManifestSeq, notePublishedManifest } from '../../../functions/core/lake/manifest-log';
import type { ObjectStore } from '../../../functions/core/ports/object-store';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';

/** A folder store that records where each listing of the extract log started, and each key whose existence it was asked. */
function recordingStore(root: string): { store: ObjectStore; starts: (string | undefined)[]; probed: string[] } {
  const folder = new FolderObjectStore(root);
  const starts: (string | undefined)[] = [];
  const probed: string[] = [];
  const list = folder.list.bind(folder);
  folder.list = (prefix: string, options?: { startAfter?: string }) => {
    if (prefix === EXTRACT_MANIFEST_PREFIX) starts.push(options?.startAfter);
    return list(prefix, options);
  };
  const exists = folder.exists.bind(folder);
  folder.exists = (key: string) => {
    probed.push(key);
    return exists(key);
  };
  return { store: folder, starts, probed };
}

async function publish(store: ObjectStore, ...seqs: number[]): Promise<void> {
  for (const seq of seqs) await store.put(extractManifestKey(seq), '{}');
}

describe('newestManifestSeq: the newest manifest of a log, at the cost of the batches since it was last seen', () => {
  it('lists the log whole once, then looks by name from the newest manifest it saw, finding every later one', async () => {
    const { store, starts, probed } = recordingStore(mkdtempSync(path.join(os.tmpdir(), 'totes-log-')));
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBeUndefined();
    await publish(store, 1, 2, 3, 4, 5);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(5);
    await publish(store, 6, 7);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(7);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(7);
    // The first look listed the log from its beginning and found it empty; later ones list nothing:
    // they ask for the newest seen (seq 1 on, after an empty log) and the keys after it, a few at once.
    expect(starts).toEqual([undefined]);
    expect(probed).toEqual([1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10, 7, 8].map(extractManifestKey));
  });

  it('starts its next look at a manifest this process published, once it has looked at the log', async () => {
    const { store, starts, probed } = recordingStore(mkdtempSync(path.join(os.tmpdir(), 'totes-log-')));
    notePublishedManifest(store, EXTRACT_MANIFEST_PREFIX, 1); // not looked at yet: nothing remembered
    await publish(store, 1, 2);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(2);
    expect(starts).toEqual([undefined]);
    await publish(store, 3);
    notePublishedManifest(store, EXTRACT_MANIFEST_PREFIX, 3);
    expect(await newestManifestSeq(store, EXTRACT_MANIFEST_PREFIX)).toBe(3);
    // One round: the published one and the next, not the one seen before it.
    expect(probed).toEqual([3, 4].map(extractManifestKey));
  });

  it('finds the run of manifests after a seq by name, up to the first one missing', async () => {
    const { store, starts, probed } = recordingStore(mkdtempSync(path.join(os.tmpdir(), 'totes-log-')));
    expect(await manifestSeqsAfter(store, EXTRACT_MANIFEST_PREFIX, 0)).toEqual([]);
    await publish(store, ...Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await manifestSeqsAfter(store, EXTRACT_MANIFEST_PREFIX, 3)).toEqual(Array.from({ length: 37 }, (_, i) => i + 4));
    expect(await manifestSeqsAfter(store, EXTRACT_MANIFEST_PREFIX, 40)).toEqual([]);
    // A manifest deleted by hand ends the run there (a new process's whole listing finds the gap).
    rmSync(path.join((store as FolderObjectStore).pathOf(extractManifestKey(20))));
    expect(await manifestSeqsAfter(store, EXTRACT_MANIFEST_PREFIX, 10)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19]);
    // Two rounds of 2 and 4 keys, each sent at once; a longer run (a backlog) is listed from there on.
    expect(probed.slice(2, 8)).toEqual([4, 5, 6, 7, 8, 9].map(extractManifestKey));
    expect(probed.slice(8, 10)).toEqual([41, 42].map(extractManifestKey));
    expect(starts).toEqual([extractManifestKey(9), extractManifestKey(16)]);
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
    expect(second.probed.slice(0, 2)).toEqual([extractManifestKey(6), extractManifestKey(7)]);
    expect(second.starts).toEqual([undefined]);
    // And once the log is empty again, it says so.
    rmSync(root, { recursive: true, force: true });
    expect(await newestManifestSeq(recordingStore(root).store, EXTRACT_MANIFEST_PREFIX)).toBeUndefined();
  });
});
