import type { ObjectStore } from '../../../functions/core/ports/object-store';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { prefixTableName, trinoLocation } from '../../../functions/engines/trino/relations';

/** How the Trino engine names lake locations and the tables over them (pure; no server needed). */

describe('trinoLocation', () => {
  const folder = new FolderObjectStore('/srv/lake/processed');

  test('a folder store maps to local:/// under the catalog local.location', () => {
    expect(trinoLocation(folder, 'star/dim_staff/b1/', '/')).toBe('local:///srv/lake/processed/star/dim_staff/b1/');
    expect(trinoLocation(folder, 'star/dim_staff/b1/', '/srv/lake')).toBe('local:///processed/star/dim_staff/b1/');
    expect(trinoLocation(folder, 'raw/x/dt=2025-01-01/a.ndjson.gz', '/srv')).toBe('local:///lake/processed/raw/x/dt=2025-01-01/a.ndjson.gz');
  });

  test('a lake outside local.location is refused with what to do', () => {
    expect(() => trinoLocation(folder, 'star/', '/elsewhere')).toThrow(/outside \/elsewhere.*localRoot/);
  });

  test('an S3 store keeps its URIs', () => {
    const s3 = { name: 'bucket', uri: (key: string) => `s3://bucket/${key}` } as unknown as ObjectStore;
    expect(trinoLocation(s3, 'star/dim_staff/b1/', '/')).toBe('s3://bucket/star/dim_staff/b1/');
  });
});

describe('prefixTableName', () => {
  test('is readable, stable, lower case and distinct per prefix', () => {
    const a = prefixTableName('star/dim_staff/0000000007-20261125T204100Z-3f9a/');
    expect(a).toMatch(/^star__dim_staff__0000000007_20261125t204100z_3f9a_[0-9a-f]{8}$/);
    expect(prefixTableName('star/dim_staff/0000000007-20261125T204100Z-3f9a/')).toBe(a);
    // Lower-casing alone would merge these two; the hash keeps them apart.
    expect(prefixTableName('star/x/B/')).not.toBe(prefixTableName('star/x/b/'));
    // Same prefix, two lakes: two tables.
    expect(prefixTableName('star/x/b/', 'local:///lake1/star/x/b/')).not.toBe(prefixTableName('star/x/b/', 'local:///lake2/star/x/b/'));
    expect(prefixTableName('star/fact_payment/batch_id=0000000001-20250101T000500Z-abcd/')).toMatch(/^star__fact_payment__batch_id_0000000001/);
  });
});
