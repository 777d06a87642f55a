import type { MotoServer } from '../support/moto-server';
import { launchTrino } from '../support/trino-server';

/**
 * The engine behind the offline Athena: a real Trino (the engine Athena v3 is) whose only catalog,
 * `awsdatacatalog`, is the Hive connector over moto's Glue Data Catalog and moto's S3, as Athena's
 * default catalog `AwsDataCatalog` is the Hive connector over Glue and S3.
 *
 * So the tables the stack and the product create in Glue (raw tables with partition projection,
 * star tables, the engine's temporary tables) are what Trino reads, and what a CTAS writes lands in
 * moto's buckets and in its Glue database, where the product's S3 and Glue adapters see it. Trino
 * itself is the one the Trino fidelity tests use (test/support/install-trino.sh, Temurin 25).
 *
 * Catalog properties are Trino 476's (io.trino.plugin.hive.metastore.glue.GlueHiveMetastoreConfig,
 * HiveConfig, the native S3 file system); each one that makes Trino behave like Athena says why.
 */

export const ATHENA_CATALOG = 'awsdatacatalog';

/**
 * Athena fails a CTAS or INSERT INTO that writes more than this many partitions
 * (HIVE_TOO_MANY_OPEN_PARTITIONS): "The maximum number of partitions you can create with CREATE
 * TABLE AS SELECT (CTAS) statements is 100" (https://docs.aws.amazon.com/athena/latest/ug/other-notable-limitations.html);
 * INSERT INTO likewise (https://docs.aws.amazon.com/athena/latest/ug/ctas-insert-into.html).
 * Enforced by Trino itself here: `hive.max-partitions-per-writers` with one writer per query.
 */
export const ATHENA_MAX_WRITTEN_PARTITIONS = 100;

export interface TrinoGlueServer {
  url: string;
  /** The Glue-backed catalog (`awsdatacatalog`). */
  catalog: string;
  /** Milliseconds from spawning the JVM to the first successful query. */
  startMs: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface TrinoGlueOptions {
  /** The (patched) moto serving Glue and S3. */
  moto: Pick<MotoServer, 'endpoint' | 'clientConfig'>;
  /** JVM heap (default 2G: the offline cloud runs moto, PostgreSQL and the Lambdas beside it). */
  heap?: string;
  timeoutMs?: number;
}

/** The `awsdatacatalog` catalog's properties for a moto at `moto`. */
export function glueCatalogProperties(moto: TrinoGlueOptions['moto']): Record<string, string> {
  const { endpoint, region, credentials } = moto.clientConfig;
  return {
    'connector.name': 'hive',
    'hive.metastore': 'glue',
    'hive.metastore.glue.region': region,
    'hive.metastore.glue.endpoint-url': endpoint,
    'hive.metastore.glue.aws-access-key': credentials.accessKeyId,
    'hive.metastore.glue.aws-secret-key': credentials.secretAccessKey,
    // Glue keeps table versions; so does Athena's UpdateTable. Trino's default, stated.
    'hive.metastore.glue.skip-archive': 'false',
    'fs.native-s3.enabled': 'true',
    's3.endpoint': endpoint,
    's3.region': region,
    's3.path-style-access': 'true',
    's3.aws-access-key': credentials.accessKeyId,
    's3.aws-secret-key': credentials.secretAccessKey,
    // Athena reads projected partitions from the table parameters (projection.*, storage.location.template).
    'hive.partition-projection-enabled': 'true',
    // Athena's CTAS writes external tables at the location the query names, and INSERT INTO appends to them.
    'hive.non-managed-table-creates-enabled': 'true',
    'hive.non-managed-table-writes-enabled': 'true',
    // Athena's limit, per query: with one writer per query (see config below) Trino's per-writer limit is it.
    'hive.max-partitions-per-writers': String(ATHENA_MAX_WRITTEN_PARTITIONS),
    // Athena's CTAS defaults: Parquet, GZIP (a CTAS naming write_compression overrides it per query).
    'hive.storage-format': 'PARQUET',
    'hive.compression-codec': 'GZIP',
    // Athena writes no column statistics on CTAS/INSERT (they come from Glue's own statistics jobs).
    'hive.collect-column-statistics-on-write': 'false',
    // Athena v3 reads Hive timestamps with millisecond precision (Trino's default, stated).
    'hive.timestamp-precision': 'MILLISECONDS',
  };
}

/** Starts Trino with the Glue catalog over moto; call `trinoSkipReason()` (test/support/trino-server.ts) first. */
export async function startTrinoGlue(options: TrinoGlueOptions): Promise<TrinoGlueServer> {
  const launched = await launchTrino({
    catalogs: { [ATHENA_CATALOG]: glueCatalogProperties(options.moto) },
    config: {
      // One table writer per query, so that hive.max-partitions-per-writers bounds the partitions a
      // whole query writes, as Athena's limit does (more writers would each get 100).
      'task.min-writer-count': '1',
      'task.max-writer-count': '1',
      'task.scale-writers.enabled': 'false',
      'scale-writers': 'false',
    },
    heap: options.heap ?? '2G',
    timeoutMs: options.timeoutMs,
  });
  return { url: launched.url, catalog: ATHENA_CATALOG, startMs: launched.startMs, logFile: launched.logFile, stop: launched.stop };
}
