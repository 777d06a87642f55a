import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ObjectStore } from '../core/ports/object-store';

/**
 * How a Trino server names the lake's objects.
 *
 * An S3 store's URIs (`s3://bucket/key`) are what a Hive catalog with S3 reads, unchanged. A
 * folder store's URIs are absolute paths, which Trino reads through its native local file system
 * (`fs.native-local.enabled=true`): `local:///<path relative to local.location>`. So the engine
 * needs the `local.location` of the server's catalog (`localRoot`, `/` in the test harness); the
 * lake must lie under it, on a disk the Trino server sees.
 */
export function trinoLocation(store: ObjectStore, key: string, localRoot: string): string {
  const uri = store.uri(key);
  const slash = key.endsWith('/') ? '/' : '';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return uri.endsWith('/') || !slash ? uri : `${uri}/`;
  if (!path.isAbsolute(uri)) throw new Error(`Object store ${store.name} gives "${uri}" for ${key}: neither a URI nor an absolute path Trino could read`);
  const relative = path.relative(path.resolve(localRoot), uri);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(
      `${uri} lies outside ${localRoot}, the local.location of the Trino catalog; put the lake under it or pass the catalog's local.location as localRoot`,
    );
  }
  const posix = relative.split(path.sep).filter(Boolean).join('/');
  return `local:///${posix}${posix && slash}`;
}

/**
 * The Trino table that stands for a location of the processed store: one name per prefix, stable
 * across runs, so a prefix this engine wrote is found again and a prefix it never saw (written by
 * an earlier process, or by another engine) is registered once under the same name. The readable
 * part comes from the prefix, the suffix is a hash of the location (the lake it lies in).
 * `star/dim_staff/0000000007-20261125T204100Z-3f9a/` → `star__dim_staff__0000000007_20261125t204100z_3f9a_1a2b3c4d`.
 */
export function prefixTableName(prefix: string, location: string = prefix): string {
  const readable = prefix
    .toLowerCase()
    .replace(/\/+$/, '')
    .replace(/\//g, '__')
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 100);
  // The hash is of the full location, so two lakes served by one Trino schema never share a table.
  const hash = createHash('sha256').update(location).digest('hex').slice(0, 8);
  return `${/^[a-z_]/.test(readable) ? '' : 't_'}${readable}_${hash}`;
}
