import { AthenaClient, CreateWorkGroupCommand } from '@aws-sdk/client-athena';
import { CreateDatabaseCommand, CreateTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Log } from '../../functions/core/ports/log';
import { motoServerBinary, type MotoServer } from '../support/moto-server';
import { trinoSkipReason } from '../support/trino-server';
import type { AthenaFacade } from './athena-facade';
import { stackGlueTables } from './stack-glue-tables';

/**
 * What the suites that run the product's AWS code on the offline Athena (moto + the Athena facade
 * over Trino, without a Terraform deploy) set up alike: athena-facade.cloud.ts, backfill.cloud.ts.
 */

/** Why the offline Athena cannot run here (test:cloud never skips: the suite fails naming it), or undefined. */
export function offlineAthenaMissing(): string | undefined {
  return trinoSkipReason() ?? (motoServerBinary() ? undefined : 'moto_server is not installed (bash test/support/install-moto.sh)');
}

/** A log that keeps the warnings and errors in `into`, for a test to assert on, and drops the rest. */
export function collectingLog(into: string[]): Log {
  return {
    info() {},
    warn: (message) => void into.push(message),
    error: (message) => void into.push(`ERROR ${message}`),
    progress() {},
    metric() {},
  };
}

/** Points this process's AWS SDK clients at moto, and Athena's at the facade, by endpoints only (as in Lambda, createAwsClients); returns the variables set, for a child process. */
export function useOfflineEndpoints(moto: MotoServer, facade: AthenaFacade): Record<string, string> {
  const endpoints = {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ENDPOINT_URL_ATHENA: facade.endpoint,
    AWS_REGION: moto.clientConfig.region as string,
    AWS_ACCESS_KEY_ID: moto.clientConfig.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.clientConfig.credentials.secretAccessKey,
  };
  Object.assign(process.env, endpoints);
  delete process.env.AWS_PROFILE;
  return endpoints;
}

export interface OfflineLakeNames {
  ingestionBucket: string;
  processedBucket: string;
  resultsBucket: string;
  rawDatabase: string;
  processedDatabase: string;
  workgroup: string;
}

/**
 * The stack's lake in moto without Terraform: the three buckets, the workgroup as
 * cdktf/query/athena-workgroup.ts configures it (engine v3, enforced results location, with
 * `bytesScannedCutoff` a scan cutoff), both Glue databases, and the raw and star tables exactly as the
 * stack declares them (stack-glue-tables.ts).
 */
export async function provisionOfflineLake(moto: MotoServer, names: OfflineLakeNames, options: { bytesScannedCutoff?: number } = {}): Promise<void> {
  const s3 = new S3Client(moto.clientConfig);
  for (const bucket of [names.ingestionBucket, names.processedBucket, names.resultsBucket]) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: moto.clientConfig.region as 'eu-west-2' } }));
  }
  await new AthenaClient(moto.clientConfig).send(
    new CreateWorkGroupCommand({
      Name: names.workgroup,
      Configuration: {
        EnforceWorkGroupConfiguration: true,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ...(options.bytesScannedCutoff ? { BytesScannedCutoffPerQuery: options.bytesScannedCutoff } : {}),
        ResultConfiguration: { OutputLocation: `s3://${names.resultsBucket}/results/`, EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      },
    }),
  );
  const glue = new GlueClient(moto.clientConfig);
  for (const name of [names.rawDatabase, names.processedDatabase]) await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: name } }));
  const tables = stackGlueTables({ rawDatabase: names.rawDatabase, processedDatabase: names.processedDatabase, ingestionBucket: names.ingestionBucket, processedBucket: names.processedBucket });
  for (const table of tables) await glue.send(new CreateTableCommand({ DatabaseName: table.database, TableInput: table.input }));
}
