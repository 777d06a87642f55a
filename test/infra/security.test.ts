import { EXTRACT_PROGRESS_PREFIX, extractProgressKey } from '../../functions/core/lake/lake-layout';
import { Block, statementsOf, synthesizeStack } from './synthesized-stack';

/**
 * Security properties of the WHOLE synthesized stack: they must hold for every bucket, role and
 * policy that exists, including ones added later.
 */
const s = synthesizeStack();
const buckets = Object.keys(s.resources('aws_s3_bucket'));
const byBucket = (type: string, id: string) =>
  Object.values(s.resources(type)).filter((b) => b.bucket === s.ref('aws_s3_bucket', id, 'id'));

describe('every bucket', () => {
  it('there are the four buckets of the pipeline and the audit bucket of the lake access trail', () => {
    const prefixes = Object.values(s.resources('aws_s3_bucket')).map((b) => String(b.bucket_prefix).replace(/^\$\{var\.name_prefix\}/, ''));
    expect(prefixes.sort()).toEqual(['-athena-results-', '-audit-', '-ingestion-', '-lambda-code-', '-processed-']);
  });

  it.each(buckets)('%s is encrypted by default with the stack key, with an S3 bucket key', (id) => {
    const [enc] = byBucket('aws_s3_bucket_server_side_encryption_configuration', id);
    const [key] = Object.keys(s.resources('aws_kms_key'));
    expect(enc.rule).toEqual([{
      apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: s.ref('aws_kms_key', key, 'arn') },
      bucket_key_enabled: true,
    }]);
  });

  it.each(buckets)('%s is versioned', (id) => {
    expect(byBucket('aws_s3_bucket_versioning', id)[0].versioning_configuration.status).toBe('Enabled');
  });

  it.each(buckets)('%s blocks all public access and disables ACLs', (id) => {
    expect(byBucket('aws_s3_bucket_public_access_block', id)).toEqual([expect.objectContaining({
      block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    })]);
    expect(byBucket('aws_s3_bucket_ownership_controls', id)[0].rule.object_ownership).toBe('BucketOwnerEnforced');
  });

  it.each(buckets)('%s refuses requests without TLS', (id) => {
    const [policy] = byBucket('aws_s3_bucket_policy', id);
    const deny = statementsOf(s, policy.policy).find((st) => st.effect === 'Deny');
    expect(deny).toMatchObject({
      condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
      resources: [s.ref('aws_s3_bucket', id, 'arn'), `${s.ref('aws_s3_bucket', id, 'arn')}/*`],
    });
  });

  it.each(buckets)('%s has a lifecycle configuration', (id) => {
    expect(byBucket('aws_s3_bucket_lifecycle_configuration', id)).toHaveLength(1);
  });
});

describe('ingestion and processed buckets', () => {
  const ingestion = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-ingestion-'));
  const processed = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-processed-'));
  const results = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-athena-results-'));

  it('ingestion is versioned, under Object Lock in governance mode with the retention variable', () => {
    expect(s.resources('aws_s3_bucket')[ingestion].object_lock_enabled).toBe(true);
    expect(byBucket('aws_s3_bucket_versioning', ingestion)[0].versioning_configuration.status).toBe('Enabled');
    expect(byBucket('aws_s3_bucket_object_lock_configuration', ingestion)[0].rule.default_retention)
      .toEqual({ mode: 'GOVERNANCE', days: '${var.ingestion_retention_days}' });
    expect(s.resources('aws_s3_bucket')[ingestion].force_destroy).toBe('${var.allow_destroy_data}');
  });

  it('ingestion moves raw files to cheaper storage', () => {
    const rules = byBucket('aws_s3_bucket_lifecycle_configuration', ingestion)[0].rule;
    const raw = rules.find((r: { filter: { prefix: string }[] }) => r.filter[0].prefix === 'raw/');
    expect(raw.transition.map((t: { storage_class: string }) => t.storage_class)).toEqual(['STANDARD_IA', 'GLACIER_IR']);
    expect(rules.some((r: { expiration?: unknown }) => r.expiration)).toBe(false);
  });

  it('processed is versioned without Object Lock; only the ingestion and audit buckets are locked', () => {
    expect(s.resources('aws_s3_bucket')[processed].object_lock_enabled).toBeUndefined();
    expect(byBucket('aws_s3_bucket_versioning', processed)[0].versioning_configuration.status).toBe('Enabled');
    const audit = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-audit-'));
    expect(Object.values(s.resources('aws_s3_bucket_object_lock_configuration')).map((c) => c.bucket).sort())
      .toEqual([s.ref('aws_s3_bucket', audit, 'id'), s.ref('aws_s3_bucket', ingestion, 'id')].sort());
  });

  it('athena results expire', () => {
    const rules = byBucket('aws_s3_bucket_lifecycle_configuration', results)[0].rule;
    expect(rules.find((r: { expiration?: unknown }) => r.expiration).expiration).toEqual([{ days: '${var.athena_results_expiration_days}' }]);
  });

  it('processed: only files tagged superseded (the transform tags only star/) expire, after superseded_expiration_days', () => {
    const rules = byBucket('aws_s3_bucket_lifecycle_configuration', processed)[0].rule as Block[];
    const expiring = rules.filter((r) => r.expiration);
    expect(expiring).toEqual([
      expect.objectContaining({
        id: 'expire-superseded',
        filter: [{ tag: [{ key: 'totes-lake-superseded', value: 'true' }] }],
        expiration: [{ days: '${var.superseded_expiration_days}' }],
      }),
    ]);
  });

  it('both send object events to EventBridge', () => {
    for (const id of [ingestion, processed]) {
      expect(byBucket('aws_s3_bucket_notification', id)).toEqual([expect.objectContaining({ eventbridge: true })]);
    }
  });
});

describe('every IAM statement', () => {
  const documents = Object.entries(s.data('aws_iam_policy_document'));
  const statements: Block[] = documents.flatMap(([doc, d]) => (d.statement as Block[]).map((st) => ({ doc, ...st })));
  const allows = statements.filter((st) => st.effect !== 'Deny');

  it('there are policy documents to check', () => {
    expect(allows.length).toBeGreaterThan(20);
  });

  it('grants no wildcard action (no "*", no "service:*", no "service:Get*")', () => {
    const wild = allows.flatMap((st) => (st.actions as string[]).filter((a) => a.includes('*')).map((a) => `${st.doc}: ${a}`));
    expect(wild).toEqual([]);
  });

  it('scopes resources: "*" only for the two EC2 Describe calls Lambda needs in a VPC (they have no resource-level permissions)', () => {
    const unscoped = allows.filter((st) => (st.resources ?? []).includes('*'));
    for (const st of unscoped) expect(st.actions).toEqual(['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets']);
    expect(unscoped).toHaveLength(3);
  });

  it('only Deny statements use a wildcard action: the TLS guard, nothing else', () => {
    const wild = statements.filter((st) => (st.actions as string[]).some((a) => a.includes('*')));
    for (const st of wild) expect({ effect: st.effect, condition: st.condition }).toEqual({ effect: 'Deny', condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }] });
  });

  it('every role, role policy, bucket policy and queue policy is built from a policy document', () => {
    const policies = [
      ...Object.values(s.resources('aws_iam_role')).map((r) => r.assume_role_policy),
      ...['aws_iam_role_policy', 'aws_iam_policy', 'aws_s3_bucket_policy', 'aws_sqs_queue_policy'].flatMap((t) => Object.values(s.resources(t)).map((r) => r.policy)),
    ];
    expect(policies.length).toBeGreaterThan(10);
    for (const p of policies) expect(() => statementsOf(s, p)).not.toThrow();
    // The only managed policies are the operator's (cdktf/access/operator-policy.ts), attached by hand, never by the stack.
    expect(Object.values(s.resources('aws_iam_policy')).map((p) => p.name).sort()).toEqual(['${var.name_prefix}-operator', '${var.name_prefix}-operator-backfill', '${var.name_prefix}-operator-run']);
    expect(Object.keys(s.resources('aws_iam_role_policy_attachment'))).toEqual([]);
  });
});

describe('secrets', () => {
  it('are referenced by ARN variables, and no secret value is managed by the stack', () => {
    expect(s.resources('aws_secretsmanager_secret_version')).toEqual({});
    expect(s.tf.variable.source_secret_arn.default).toBeUndefined();
    expect(s.tf.variable.warehouse_secret_arn.default).toBeUndefined();
  });

  it('each is readable by exactly the function that needs it', () => {
    const readers = (secretVar: string) => Object.values(s.resources('aws_iam_role_policy'))
      .filter((p) => statementsOf(s, p.policy).some((st) => (st.resources ?? []).includes(`\${var.${secretVar}}`)))
      .map((p) => p.name);
    expect(readers('source_secret_arn')).toEqual(['extract-least-privilege']);
    expect(readers('warehouse_secret_arn')).toEqual(['load-least-privilege']);
  });
});

describe('names', () => {
  it.each([
    ['aws_iam_role', 'name'], ['aws_sqs_queue', 'name'], ['aws_lambda_function', 'function_name'], ['aws_cloudwatch_metric_alarm', 'alarm_name'],
    ['aws_cloudwatch_event_rule', 'name'], ['aws_scheduler_schedule', 'name'], ['aws_cloudwatch_log_group', 'name'], ['aws_sns_topic', 'name'],
  ])('every %s has a distinct %s (AWS rejects duplicates at apply time)', (type, attr) => {
    const names = Object.values(s.resources(type)).map((r) => r[attr]);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('stage permissions follow the lake layout', () => {
  it('the extract may write where lake-layout puts an unfinished batch\'s progress', () => {
    expect(extractProgressKey(7, 1).startsWith(EXTRACT_PROGRESS_PREFIX)).toBe(true);
  });

  it('no stage may delete from the ingestion bucket', () => {
    const deletes = Object.values(s.data('aws_iam_policy_document')).flatMap((d) => d.statement as Block[])
      .filter((st) => st.effect !== 'Deny' && (st.actions as string[]).some((a) => a.startsWith('s3:Delete')))
      .flatMap((st) => st.resources as string[]);
    const ingestion = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-ingestion-'));
    expect(deletes.filter((r) => r.includes(`aws_s3_bucket.${ingestion}.`))).toEqual([]);
  });
});
