import { AthenaClient } from '@aws-sdk/client-athena';
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PipelineContext } from '../core/pipeline-context';
import type { Catalog } from '../core/ports/catalog';
import type { Log } from '../core/ports/log';
import type { ObjectStore } from '../core/ports/object-store';
import type { QueryEngine } from '../core/ports/query-engine';
import type { DatabaseLocator } from '../core/ports/source';
import { AthenaEngine } from '../engines/athena/engine';
import { requireSetting, type AwsConfig, type AwsSetting } from './aws-config';
import { GlueCatalog } from './glue-catalog';
import { AWS_CLIENT_RETRY } from './retry-with-backoff';
import { S3ObjectStore } from './s3-object-store';
import { SecretsManagerLocator } from './secrets-locator';

/** The SDK clients the adapters use; injectable so tests can point them at moto or a mock. */
export interface AwsClients {
  s3: S3Client;
  glue: GlueClient;
  athena: AthenaClient;
  secrets: SecretsManagerClient;
}

/** Clients for the Lambda's own region (AWS_REGION), with the shared retry settings. */
export function createAwsClients(): AwsClients {
  return {
    s3: new S3Client({ ...AWS_CLIENT_RETRY }),
    glue: new GlueClient({ ...AWS_CLIENT_RETRY }),
    athena: new AthenaClient({ ...AWS_CLIENT_RETRY }),
    secrets: new SecretsManagerClient({ ...AWS_CLIENT_RETRY }),
  };
}

/**
 * Builds the PipelineContext of a Lambda function from its environment: S3 stores, the Glue
 * catalog, the Athena engine, databases from Secrets Manager, Powertools logging. A port whose
 * settings the function lacks (the extract has no warehouse) is a stand-in that fails on first
 * use with a message naming the missing variable, so each function declares only what it uses.
 */
export function buildAwsContext(config: AwsConfig, clients: AwsClients, log: Log, now: () => Date = () => new Date()): PipelineContext {
  const has = (...keys: AwsSetting[]) => keys.every((k) => config[k] !== undefined);
  const ingestion = has('ingestionBucket')
    ? new S3ObjectStore(requireSetting(config, 'ingestionBucket', 'the ingestion store'), clients.s3)
    : unavailable<ObjectStore>('the ingestion store', 'ingestionBucket');
  const processed = has('processedBucket')
    ? new S3ObjectStore(requireSetting(config, 'processedBucket', 'the processed store'), clients.s3)
    : unavailable<ObjectStore>('the processed store', 'processedBucket');
  const catalog = has('processedBucket', 'processedDatabase')
    ? new GlueCatalog(clients.glue, { database: config.processedDatabase!, bucket: config.processedBucket!, log })
    : unavailable<Catalog>('the Glue catalog', config.processedBucket ? 'processedDatabase' : 'processedBucket');
  const engine = has('processedBucket', 'rawDatabase', 'processedDatabase', 'athenaWorkgroup')
    ? new AthenaEngine({
        athena: clients.athena,
        glue: clients.glue,
        workgroup: config.athenaWorkgroup!,
        namespace: { rawDatabase: config.rawDatabase!, processedDatabase: config.processedDatabase! },
        processed,
        log,
      })
    : unavailable<QueryEngine>('the Athena engine', (['processedBucket', 'rawDatabase', 'processedDatabase', 'athenaWorkgroup'] as const).find((k) => !config[k])!);
  const source = config.sourceSecretArn
    ? new SecretsManagerLocator(clients.secrets, config.sourceSecretArn, { log })
    : unavailable<DatabaseLocator>('the totesys source', 'sourceSecretArn');
  const warehouse = config.warehouseSecretArn
    ? new SecretsManagerLocator(clients.secrets, config.warehouseSecretArn, { log })
    : unavailable<DatabaseLocator>('the warehouse', 'warehouseSecretArn');
  return { ingestion, processed, engine, catalog, source, warehouse, warehouseSchema: config.warehouseSchema, log, now, sqlRoot: sqlRoot() };
}

/**
 * Where `sql/` is: the Lambda bundle root (build-lambdas copies sql/ beside index.js), or the
 * repository root when running from source.
 */
export function sqlRoot(): string {
  const candidates = [process.env.LAMBDA_TASK_ROOT, __dirname, path.resolve(__dirname, '..', '..')];
  for (const dir of candidates) if (dir && existsSync(path.join(dir, 'sql'))) return dir;
  return process.env.LAMBDA_TASK_ROOT ?? path.resolve(__dirname, '..', '..');
}

/** A port this function is not configured for: any use throws, naming the variable to set. */
function unavailable<T extends object>(what: string, setting: AwsSetting): T {
  const fail = (): never => {
    requireSetting({} as AwsConfig, setting, what);
    throw new Error(`${what} is not configured`);
  };
  return new Proxy({} as T, {
    get(_target, prop) {
      // Let `await`, inspection and `close()` pass: a port never used is not an error.
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      if (prop === 'close') return async () => undefined;
      if (prop === 'description' || prop === 'name') return `${what} (not configured)`;
      return fail();
    },
  });
}
