import { AthenaWorkgroup } from '@cdktf/provider-aws/lib/athena-workgroup';
import { Construct } from 'constructs';

export const ATHENA_ENGINE_V3 = 'Athena engine version 3';

export interface PipelineWorkgroupProps {
  name: string;
  resultsBucket: string;
  bytesScannedCutoffPerQuery: number;
  /** The stack's key: results are written SSE-KMS with it. */
  kmsKeyArn: string;
}

/**
 * The Athena workgroup the transform (and analysts) run in: engine v3 (Trino, the dialect of
 * sql/transform), results forced into the expiring results bucket, encrypted SSE-KMS with the
 * stack's key, whatever the client asks for, a per-query bytes-scanned cutoff so a bad query cannot bill the whole lake, and
 * CloudWatch metrics (AWS/Athena ProcessedBytes) for the dashboard.
 */
export class PipelineWorkgroup extends Construct {
  readonly workgroup: AthenaWorkgroup;

  constructor(scope: Construct, id: string, props: PipelineWorkgroupProps) {
    super(scope, id);
    this.workgroup = new AthenaWorkgroup(this, 'workgroup', {
      name: props.name,
      description: 'Totes Lake transform and ad-hoc queries over the lake.',
      state: 'ENABLED',
      forceDestroy: true,
      configuration: {
        engineVersion: { selectedEngineVersion: ATHENA_ENGINE_V3 },
        enforceWorkgroupConfiguration: true,
        publishCloudwatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
        resultConfiguration: {
          outputLocation: `s3://${props.resultsBucket}/results/`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKeyArn: props.kmsKeyArn },
        },
      },
    });
  }
}
