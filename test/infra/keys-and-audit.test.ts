import { RETENTION_CHANGE_ACTIONS } from '../../cdktf/access/policy-document';
import { KEY_USE_ACTIONS, type KeyPolicyStatement } from '../../cdktf/security/lake-key';
import { Block, statementsOf, synthesizeStack } from './synthesized-stack';

/**
 * The security review's points, over the whole synthesized stack: one customer-managed key and
 * everything it encrypts, the roles' exact use of it, the lake access trail and its locked bucket,
 * the retention guard of the locked buckets, the VPC policy's scope, and the conditions on what
 * EventBridge and Scheduler may do for the stack.
 */
const s = synthesizeStack();
const [keyId, ...otherKeys] = Object.keys(s.resources('aws_kms_key'));
const key = s.resources('aws_kms_key')[keyId];
const keyArn = s.ref('aws_kms_key', keyId, 'arn');
const account = '${data.aws_caller_identity.account.account_id}';
const partition = '${data.aws_partition.partition.partition}';
const bucketId = (suffix: string) => s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith(`-${suffix}-`));
const bucketArn = (suffix: string) => s.ref('aws_s3_bucket', bucketId(suffix), 'arn');
const bucketPolicy = (suffix: string) => {
  const [policy] = Object.values(s.resources('aws_s3_bucket_policy')).filter((p) => p.bucket === s.ref('aws_s3_bucket', bucketId(suffix), 'id'));
  return policy;
};
const keyPolicy = JSON.parse(key.policy as string) as { Version: string; Statement: KeyPolicyStatement[] };
const [trailId] = Object.keys(s.resources('aws_cloudtrail'));
const trail = s.resources('aws_cloudtrail')[trailId];
const trailArn = `arn:${partition}:cloudtrail:\${var.aws_region}:${account}:trail/${trail.name}`;

describe('the customer-managed key', () => {
  it('is one symmetric key, rotated, with a 30-day deletion window and an alias', () => {
    expect(otherKeys).toEqual([]);
    expect(key).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 30, key_usage: 'ENCRYPT_DECRYPT', customer_master_key_spec: 'SYMMETRIC_DEFAULT' });
    expect(Object.values(s.resources('aws_kms_alias'))).toEqual([expect.objectContaining({ name: 'alias/${var.name_prefix}-lake', target_key_id: s.ref('aws_kms_key', keyId, 'key_id') })]);
  });

  it('encrypts the lake buckets, the Athena results, the alarm topic, every DLQ and every log group', () => {
    for (const suffix of ['ingestion', 'processed', 'athena-results']) {
      const [enc] = Object.values(s.resources('aws_s3_bucket_server_side_encryption_configuration')).filter((e) => e.bucket === s.ref('aws_s3_bucket', bucketId(suffix), 'id'));
      expect({ suffix, rule: enc.rule[0] }).toEqual({ suffix, rule: { apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: keyArn }, bucket_key_enabled: true } });
    }
    const [workgroup] = Object.values(s.resources('aws_athena_workgroup'));
    expect(workgroup.configuration.enforce_workgroup_configuration).toBe(true);
    expect(workgroup.configuration.result_configuration.encryption_configuration).toEqual({ encryption_option: 'SSE_KMS', kms_key_arn: keyArn });
    expect(Object.values(s.resources('aws_sns_topic')).map((t) => t.kms_master_key_id)).toEqual([keyArn]);
    const queues = Object.values(s.resources('aws_sqs_queue'));
    expect(queues).toHaveLength(3);
    for (const q of queues) expect({ name: q.name, key: q.kms_master_key_id, sqsManaged: q.sqs_managed_sse_enabled }).toEqual({ name: q.name, key: keyArn, sqsManaged: undefined });
    const logGroups = Object.values(s.resources('aws_cloudwatch_log_group'));
    expect(logGroups).toHaveLength(3);
    for (const g of logGroups) expect({ name: g.name, key: g.kms_key_id }).toEqual({ name: g.name, key: keyArn });
  });

  it('has a policy without a wildcard principal or action, and lets the account use it only through S3, SQS and SNS', () => {
    expect(keyPolicy.Version).toBe('2012-10-17');
    for (const st of keyPolicy.Statement) {
      expect(st.Effect).toBe('Allow');
      expect(JSON.stringify(st.Principal)).not.toMatch(/"\*"/);
      expect(st.Action.filter((a) => a.includes('*'))).toEqual([]);
    }
    const accountRoot = keyPolicy.Statement.filter((st) => 'AWS' in st.Principal);
    expect(accountRoot.map((st) => (st.Principal as { AWS: string }).AWS)).toEqual([`arn:${partition}:iam::${account}:root`, `arn:${partition}:iam::${account}:root`]);
    const [admin, use] = accountRoot;
    // Administration never includes use of the key.
    expect(admin.Action.filter((a) => /Decrypt|Encrypt|GenerateDataKey/.test(a))).toEqual([]);
    expect(admin.Action).toEqual(expect.arrayContaining(['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:EnableKeyRotation']));
    expect(use.Action).toEqual([...KEY_USE_ACTIONS]);
    expect(use.Condition).toEqual({
      StringEquals: { 'kms:CallerAccount': account, 'kms:ViaService': ['s3', 'sqs', 'sns'].map((x) => `${x}.\${var.aws_region}.amazonaws.com`) },
    });
  });

  it('lets each service it serves use it for this stack only: every service statement is conditioned', () => {
    const services = keyPolicy.Statement.filter((st) => 'Service' in st.Principal);
    const by = (service: string) => services.filter((st) => (st.Principal as { Service: string }).Service === service);
    expect(services.every((st) => st.Condition !== undefined)).toBe(true);
    expect(by('logs.${var.aws_region}.amazonaws.com')[0].Condition).toEqual({
      ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:\${var.aws_region}:${account}:log-group:/aws/lambda/\${var.name_prefix}-*` },
    });
    // Every log group of the stack matches that pattern.
    for (const g of Object.values(s.resources('aws_cloudwatch_log_group'))) expect(g.name).toMatch(/^\/aws\/lambda\/\$\{var\.name_prefix\}-/);
    // CloudWatch alarms may publish to the encrypted topic: only this account's alarms named for the stack.
    expect(by('cloudwatch.amazonaws.com')).toEqual([expect.objectContaining({
      Action: [...KEY_USE_ACTIONS],
      Condition: { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:\${var.aws_region}:${account}:alarm:\${var.name_prefix}-*` } },
    })]);
    for (const a of Object.values(s.resources('aws_cloudwatch_metric_alarm'))) expect(a.alarm_name).toMatch(/^\$\{var\.name_prefix\}-/);
    // EventBridge may write dead letters into the stack's DLQs only.
    expect(by('events.amazonaws.com')).toEqual([expect.objectContaining({
      Action: [...KEY_USE_ACTIONS],
      Condition: { ArnLike: { 'kms:EncryptionContext:aws:sqs:arn': `arn:${partition}:sqs:\${var.aws_region}:${account}:\${var.name_prefix}-*-dlq` } },
    })]);
    for (const q of Object.values(s.resources('aws_sqs_queue'))) expect(q.name).toMatch(/^\$\{var\.name_prefix\}-.*-dlq$/);
    // CloudTrail may encrypt with it for the lake access trail only.
    expect(by('cloudtrail.amazonaws.com').map((st) => [st.Action, st.Condition?.StringEquals])).toEqual([
      [['kms:GenerateDataKey'], { 'aws:SourceArn': trailArn }],
      [['kms:DescribeKey'], { 'aws:SourceArn': trailArn }],
    ]);
  });

  it('every role and policy of the stack gets exactly kms:Decrypt and kms:GenerateDataKey on that key, or nothing of KMS', () => {
    const withKms = Object.entries(s.data('aws_iam_policy_document'))
      .flatMap(([doc, d]) => (d.statement as Block[]).map((st): Block => ({ doc, ...st })))
      .filter((st) => (st.actions as string[]).some((a) => a.startsWith('kms:')));
    for (const st of withKms) expect({ doc: st.doc, actions: st.actions, resources: st.resources }).toEqual({ doc: st.doc, actions: [...KEY_USE_ACTIONS], resources: [keyArn] });
    // Each function role (S3 objects and its DLQ) and each scheduler role (its DLQ) has that grant.
    const rolesWithKey = Object.values(s.resources('aws_iam_role_policy'))
      .filter((p) => statementsOf(s, p.policy).some((st) => (st.actions as string[]).includes('kms:GenerateDataKey')))
      .map((p) => p.name).sort();
    expect(rolesWithKey).toEqual(['extract-least-privilege', 'invoke-extract', 'invoke-load', 'invoke-transform', 'load-least-privilege', 'transform-least-privilege']);
  });
});

describe('the lake access trail', () => {
  it('records every object read and write of the ingestion and processed buckets, validated and encrypted', () => {
    expect(Object.keys(s.resources('aws_cloudtrail'))).toHaveLength(1);
    expect(trail).toMatchObject({
      name: '${var.name_prefix}-lake-access',
      s3_bucket_name: s.ref('aws_s3_bucket', bucketId('audit'), 'bucket'),
      kms_key_id: keyArn,
      enable_logging: true,
      enable_log_file_validation: true,
      is_multi_region_trail: true,
    });
    expect(trail.advanced_event_selector).toEqual([{
      name: expect.any(String),
      field_selector: [
        { field: 'eventCategory', equals: ['Data'] },
        { field: 'resources.type', equals: ['AWS::S3::Object'] },
        { field: 'resources.ARN', starts_with: [`${bucketArn('ingestion')}/`, `${bucketArn('processed')}/`] },
      ],
    }]);
    expect(trail.depends_on).toEqual([`aws_s3_bucket_policy.${Object.entries(s.resources('aws_s3_bucket_policy')).find(([, p]) => p === bucketPolicy('audit'))![0]}`]);
  });

  it('goes to its own bucket, retained under Object Lock and expiring only after the retention', () => {
    const id = bucketId('audit');
    const of = (type: string) => Object.values(s.resources(type)).filter((b) => b.bucket === s.ref('aws_s3_bucket', id, 'id'));
    expect(s.resources('aws_s3_bucket')[id]).toMatchObject({ object_lock_enabled: true, force_destroy: '${var.allow_destroy_data}' });
    expect(of('aws_s3_bucket_object_lock_configuration')[0].rule.default_retention).toEqual({ mode: 'GOVERNANCE', days: '${var.audit_retention_days}' });
    const expiry = of('aws_s3_bucket_lifecycle_configuration')[0].rule.find((r: Block) => r.expiration);
    expect(expiry.expiration).toEqual([{ days: '${var.audit_retention_days}' }]);
  });

  it('its bucket lets CloudTrail write for this trail only, under AWSLogs/<account>/', () => {
    const allows = statementsOf(s, bucketPolicy('audit').policy).filter((st) => st.effect === 'Allow');
    expect(allows.map((st) => [st.actions, st.resources, st.principals])).toEqual([
      [['s3:GetBucketAcl'], [bucketArn('audit')], [{ type: 'Service', identifiers: ['cloudtrail.amazonaws.com'] }]],
      [['s3:PutObject'], [`${bucketArn('audit')}/AWSLogs/${account}/*`], [{ type: 'Service', identifiers: ['cloudtrail.amazonaws.com'] }]],
    ]);
    for (const st of allows) expect(st.condition).toContainEqual({ test: 'StringEquals', variable: 'aws:SourceArn', values: [trailArn] });
  });
});

describe('Object Lock retention', () => {
  const breakGlass = '${coalesce(var.break_glass_role_arn, format("arn:%s:iam::%s:role/%s-break-glass", data.aws_partition.partition.partition, data.aws_caller_identity.account.account_id, var.name_prefix))}';

  it.each(['ingestion', 'audit'])('the %s bucket denies the governance bypass and every retention or policy change to all but the break-glass role', (suffix) => {
    const policy = bucketPolicy(suffix);
    const guard = statementsOf(s, policy.policy).find((st) => st.sid === 'DenyRetentionChangesButBreakGlass');
    expect(guard).toMatchObject({
      effect: 'Deny',
      actions: [...RETENTION_CHANGE_ACTIONS],
      principals: [{ type: '*', identifiers: ['*'] }],
      resources: [bucketArn(suffix), `${bucketArn(suffix)}/*`],
      condition: [{ test: 'ArnNotEquals', variable: 'aws:PrincipalArn', values: [breakGlass] }],
    });
    expect(RETENTION_CHANGE_ACTIONS).toEqual(expect.arrayContaining(['s3:BypassGovernanceRetention', 's3:PutObjectRetention', 's3:PutBucketObjectLockConfiguration', 's3:PutBucketPolicy']));
    // The deploy role sets the lock configuration before the guard is in force.
    const [lockId] = Object.entries(s.resources('aws_s3_bucket_object_lock_configuration')).find(([, c]) => c.bucket === s.ref('aws_s3_bucket', bucketId(suffix), 'id'))!;
    expect(policy.depends_on).toContain(`aws_s3_bucket_object_lock_configuration.${lockId}`);
  });

  it('the break-glass role is a variable, empty by default, validated as a role ARN', () => {
    expect(s.tf.variable.break_glass_role_arn).toMatchObject({ type: 'string', default: '' });
    expect(s.tf.variable.break_glass_role_arn.validation[0].condition).toContain(':role/');
  });

  it('no unlocked bucket carries the guard', () => {
    for (const suffix of ['processed', 'athena-results', 'lambda-code']) {
      expect(statementsOf(s, bucketPolicy(suffix).policy).map((st) => st.sid)).toEqual(['DenyInsecureTransport']);
    }
  });
});

describe('the optional VPC policy', () => {
  const docs = Object.entries(s.data('aws_iam_policy_document')).filter(([id]) => id.includes('vpc-policy-document'));
  const subnets = 'formatlist("arn:%s:ec2:%s:%s:subnet/%s", data.aws_partition.partition.partition, var.aws_region, data.aws_caller_identity.account.account_id, var.lambda_subnet_ids)';
  const groups = 'formatlist("arn:%s:ec2:%s:%s:security-group/%s", data.aws_partition.partition.partition, var.aws_region, data.aws_caller_identity.account.account_id, var.lambda_security_group_ids)';

  it('exists for each function', () => expect(docs).toHaveLength(3));

  it.each(docs.map(([id, d]) => [id, d]))('%s creates, deletes and re-addresses interfaces only in the stack\'s subnets and security groups', (_id, d) => {
    const statements = (d as Block).statement as Block[];
    expect(statements.map((st) => [st.actions, st.resources, st.condition])).toEqual([
      [['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], ['*'], undefined],
      [['ec2:CreateNetworkInterface'], `\${concat(${subnets}, ${groups})}`, undefined],
      [
        ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        [`arn:${partition}:ec2:\${var.aws_region}:${account}:network-interface/*`],
        [{ test: 'ArnEquals', variable: 'ec2:Subnet', values: `\${${subnets}}` }],
      ],
    ]);
  });
});

describe('what EventBridge and Scheduler may do for the stack', () => {
  it('each scheduler role trusts only its own schedule in this account', () => {
    const schedules = Object.values(s.resources('aws_scheduler_schedule'));
    expect(schedules).toHaveLength(3);
    for (const schedule of schedules) {
      const roleId = /aws_iam_role\.([^.]+)\.arn/.exec(schedule.target.role_arn)![1];
      const [trust] = statementsOf(s, s.resources('aws_iam_role')[roleId].assume_role_policy);
      expect(trust).toMatchObject({
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['scheduler.amazonaws.com'] }],
        condition: [
          { test: 'StringEquals', variable: 'aws:SourceAccount', values: [account] },
          { test: 'ArnEquals', variable: 'aws:SourceArn', values: [`arn:${partition}:scheduler:\${var.aws_region}:${account}:schedule/default/${schedule.name}`] },
        ],
      });
    }
  });

  it('EventBridge may invoke a function and write its DLQ only for the stack\'s rule, in this account', () => {
    const permissions = Object.values(s.resources('aws_lambda_permission')).filter((p) => p.principal === 'events.amazonaws.com');
    expect(permissions).toHaveLength(2);
    for (const p of permissions) {
      expect(p.source_arn).toMatch(/^\$\{aws_cloudwatch_event_rule\.[^.]+\.arn\}$/);
      expect(p.source_account).toBe(account);
    }
    const queuePolicies = Object.values(s.resources('aws_sqs_queue_policy'));
    expect(queuePolicies).toHaveLength(2);
    for (const q of queuePolicies) {
      const [st] = statementsOf(s, q.policy);
      expect(st.condition).toEqual([
        { test: 'ArnEquals', variable: 'aws:SourceArn', values: [expect.stringMatching(/^\$\{aws_cloudwatch_event_rule\.[^.]+\.arn\}$/)] },
        { test: 'StringEquals', variable: 'aws:SourceAccount', values: [account] },
      ]);
    }
  });
});
