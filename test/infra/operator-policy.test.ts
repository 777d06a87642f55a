import { ATHENA_TEMP_TABLE_PREFIX } from '../../cdktf/access/operator-policy';
import { STACK_OUTPUTS, STACK_VERSION } from '../../functions/core/contract/stack-contract';
import { TEMP_PREFIX } from '../../functions/engines/athena/relations';
import { statementsOf, synthesizeStack } from './synthesized-stack';

/** The operator's policies and the outputs `totes <command> --aws` reads (cdktf/access/operator-policy.ts). */
const s = synthesizeStack();
const policy = (suffix: string) => {
  const found = Object.values(s.resources('aws_iam_policy')).find((p) => p.name === `\${var.name_prefix}-${suffix}`);
  if (!found) throw new Error(`No policy ${suffix}`);
  return statementsOf(s, found.policy);
};
const bucket = (suffix: string) => s.ref('aws_s3_bucket', s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith(suffix)), 'arn');

describe('the stack outputs', () => {
  it('name everything the CLI reads, with the stack version', () => {
    const outputs = s.tf.output as Record<string, { value: string }>;
    for (const name of Object.values(STACK_OUTPUTS)) expect(Object.keys(outputs)).toContain(name);
    expect(outputs[STACK_OUTPUTS.stackVersion].value).toBe(String(STACK_VERSION));
  });
});

describe('the read-only operator policy', () => {
  const statements = policy('operator');
  const actions = statements.flatMap((st) => st.actions as string[]);

  it('writes no object in the ingestion or processed bucket', () => {
    const lake = [bucket('-ingestion-'), bucket('-processed-')];
    const writes = statements.filter((st) => (st.actions as string[]).some((a) => /^s3:(Put|Delete|Abort|Restore)/.test(a)));
    for (const st of writes) for (const r of st.resources as string[]) expect(lake.some((b) => r.startsWith(b))).toBe(false);
    expect(writes.flatMap((st) => st.resources)).toEqual([`${bucket('-athena-results-')}/*`]);
  });

  it('changes the catalog only for the Athena engine\'s temporary tables', () => {
    const glueWrites = statements.filter((st) => (st.actions as string[]).some((a) => /^glue:(Create|Delete|BatchDelete|Update)/.test(a)));
    expect(glueWrites).toHaveLength(1);
    const tables = (glueWrites[0].resources as string[]).filter((r) => r.includes(':table/'));
    expect(tables).toEqual([expect.stringMatching(new RegExp(`:table/.+/${TEMP_PREFIX}\\*$`))]);
    expect(ATHENA_TEMP_TABLE_PREFIX).toBe(TEMP_PREFIX);
  });

  it('runs queries, reads both secrets and the alarms, and invokes nothing', () => {
    expect(actions).toEqual(expect.arrayContaining(['athena:StartQueryExecution', 'secretsmanager:GetSecretValue', 'cloudwatch:DescribeAlarms', 'glue:GetTable', 's3:GetObject']));
    expect(actions.filter((a) => a.startsWith('lambda:'))).toEqual([]);
    const secrets = statements.find((st) => (st.actions as string[]).includes('secretsmanager:GetSecretValue'))!;
    expect(secrets.resources).toEqual(['${var.source_secret_arn}', '${var.warehouse_secret_arn}']);
  });
});

describe('the run policy', () => {
  it('invokes the extract function only', () => {
    const extract = s.idOf('aws_lambda_function', (f) => String(f.function_name).endsWith('-extract'));
    expect(policy('operator-run')).toEqual([expect.objectContaining({ actions: ['lambda:InvokeFunction'], resources: [s.ref('aws_lambda_function', extract, 'arn')] })]);
  });
});

describe('the lake key', () => {
  it('the read-only policy may use every KMS key of the stack (S3 objects and Athena results are encrypted with it)', () => {
    const keys = Object.keys(s.resources('aws_kms_key')).map((id) => s.ref('aws_kms_key', id, 'arn'));
    const kms = policy('operator').filter((st) => (st.actions as string[]).some((a) => a.startsWith('kms:')));
    if (!keys.length) return expect(kms).toEqual([]);
    expect(kms).toEqual([expect.objectContaining({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: keys })]);
  });
});
