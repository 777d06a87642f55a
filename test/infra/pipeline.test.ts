import { ENV, METRICS } from '../../functions/core/contract/runtime-contract';
import { EXTRACT_MANIFEST_PREFIX, TRANSFORM_MANIFEST_PREFIX } from '../../functions/core/lake/lake-layout';
import { parseScheduleEvent, parseStageTrigger } from '../../functions/aws/lambda-events';
import { statementsOf, synthesizeStack } from './synthesized-stack';

/** The functions, their triggers, alarms and dashboard, asserted over the synthesized stack. */
const s = synthesizeStack();
const functions = s.resources('aws_lambda_function');
const fnId = (stage: string) => s.idOf('aws_lambda_function', (f) => f.function_name === `\${var.name_prefix}-${stage}`);
const stages = ['extract', 'transform', 'load'];
const alarms = Object.values(s.resources('aws_cloudwatch_metric_alarm'));
const topicArn = s.ref('aws_sns_topic', Object.keys(s.resources('aws_sns_topic'))[0], 'arn');

describe('every function', () => {
  it('is one of the three stages, on nodejs22.x, from its bundle in the code bucket', () => {
    expect(Object.keys(functions)).toHaveLength(3);
    for (const stage of stages) {
      const f = functions[fnId(stage)];
      expect(f).toMatchObject({ runtime: 'nodejs22.x', handler: 'index.handler' });
      const [objectId] = /aws_s3_object\.([^.]+)\./.exec(f.s3_key)!.slice(1);
      const object = s.resources('aws_s3_object')[objectId];
      expect(object.source).toBe(`\${var.lambda_dist_dir}/${stage}.zip`);
      expect(object.lifecycle.precondition[0].condition).toBe(`\${fileexists("\${var.lambda_dist_dir}/${stage}.zip")}`);
      expect(f.source_code_hash).toBe(`\${filebase64sha256("\${var.lambda_dist_dir}/${stage}.zip")}`);
    }
  });

  it('has a role of its own, assumable by Lambda only', () => {
    const roles = Object.values(functions).map((f) => f.role);
    expect(new Set(roles).size).toBe(3);
    for (const role of roles) {
      const roleId = /aws_iam_role\.([^.]+)\.arn/.exec(role)![1];
      const trust = statementsOf(s, s.resources('aws_iam_role')[roleId].assume_role_policy);
      expect(trust).toEqual([expect.objectContaining({ actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['lambda.amazonaws.com'] }] })]);
    }
  });

  it('has a log group of its own, with retention, that its role alone may write', () => {
    for (const f of Object.values(functions)) {
      const groupId = /aws_cloudwatch_log_group\.([^.]+)\.name/.exec(f.logging_config.log_group)![1];
      const group = s.resources('aws_cloudwatch_log_group')[groupId];
      expect(group.name).toBe(`/aws/lambda/${f.function_name}`);
      expect(group.retention_in_days).toBe('${var.log_retention_days}');
      const roleId = /aws_iam_role\.([^.]+)\.arn/.exec(f.role)![1];
      const writers = Object.values(s.resources('aws_iam_role_policy'))
        .filter((p) => statementsOf(s, p.policy).some((st) => st.resources?.includes(`\${aws_cloudwatch_log_group.${groupId}.arn}:*`)));
      expect(writers.map((p) => p.role)).toEqual([s.ref('aws_iam_role', roleId, 'id')]);
      expect(f.depends_on).toContain(`aws_cloudwatch_log_group.${groupId}`);
    }
    expect(Object.keys(s.resources('aws_cloudwatch_log_group'))).toHaveLength(3);
  });

  it('has an error alarm, a throttle alarm and a DLQ alarm of its own, all notifying the topic', () => {
    for (const [id, f] of Object.entries(functions)) {
      const own = (metric: string) => alarms.filter((a) => a.metric_name === metric && a.dimensions?.FunctionName === s.ref('aws_lambda_function', id, 'function_name'));
      expect(own('Errors')).toEqual([expect.objectContaining({ namespace: 'AWS/Lambda', threshold: 1, alarm_actions: [topicArn] })]);
      expect(own('Throttles')).toHaveLength(1);
      const dlqId = /aws_sqs_queue\.([^.]+)\.arn/.exec(f.dead_letter_config.target_arn)![1];
      const dlqAlarms = alarms.filter((a) => a.namespace === 'AWS/SQS' && a.dimensions.QueueName === s.ref('aws_sqs_queue', dlqId, 'name'));
      expect(dlqAlarms).toEqual([expect.objectContaining({ metric_name: 'ApproximateNumberOfMessagesVisible', threshold: 0, comparison_operator: 'GreaterThanThreshold' })]);
    }
  });

  it('reads the runtime contract environment, with the secret each stage needs and no other', () => {
    const common = [ENV.ingestionBucket, ENV.processedBucket, ENV.rawDatabase, ENV.processedDatabase, ENV.athenaWorkgroup, ENV.warehouseSchema, ENV.commitLagSeconds];
    for (const stage of stages) {
      const vars = functions[fnId(stage)].environment.variables;
      for (const name of common) expect(vars[name]).toBeDefined();
      expect(vars.POWERTOOLS_SERVICE_NAME).toBe('totes-lake');
      expect(vars.POWERTOOLS_METRICS_NAMESPACE).toBe(METRICS.namespace);
      expect(Boolean(vars[ENV.sourceSecretArn])).toBe(stage === 'extract');
      expect(Boolean(vars[ENV.warehouseSecretArn])).toBe(stage === 'load');
    }
  });

  it('runs one at a time (the extract must never overlap itself)', () => {
    expect(functions[fnId('extract')].reserved_concurrent_executions).toBe(1);
  });

  it('sends failed async invocations to its dead-letter queue', () => {
    const dlqs = Object.values(functions).map((f) => f.dead_letter_config.target_arn);
    expect(new Set(dlqs).size).toBe(3);
    expect(Object.keys(s.resources('aws_lambda_function_event_invoke_config'))).toHaveLength(3);
  });

  it('runs in the VPC given by the variables (none by default)', () => {
    for (const f of Object.values(functions)) {
      expect(f.vpc_config).toEqual({ subnet_ids: '${var.lambda_subnet_ids}', security_group_ids: '${var.lambda_security_group_ids}' });
    }
    expect(s.tf.variable.lambda_subnet_ids.default).toEqual([]);
  });
});

describe('triggers', () => {
  it('the scheduler runs the extract every 5 minutes by default', () => {
    const schedules = Object.values(s.resources('aws_scheduler_schedule'));
    expect(schedules).toHaveLength(3);
    const extract = schedules.filter((sc) => sc.target.arn === s.ref('aws_lambda_function', fnId('extract'), 'arn'));
    expect(extract).toHaveLength(1);
    expect(extract[0].schedule_expression).toBe('${var.extract_schedule}');
    expect(s.tf.variable.extract_schedule.default).toBe('rate(5 minutes)');
    expect(extract[0].flexible_time_window.mode).toBe('OFF');
  });

  it.each(['extract', 'transform', 'load'])('the same tick starts the %s on whatever is pending, with an event its handler accepts', (stage) => {
    const [schedule] = Object.values(s.resources('aws_scheduler_schedule')).filter((sc) => sc.target.arn === s.ref('aws_lambda_function', fnId(stage), 'arn'));
    expect(schedule).toMatchObject({ name: `\${var.name_prefix}-${stage}-schedule`, schedule_expression: '${var.extract_schedule}', state: 'ENABLED', flexible_time_window: { mode: 'OFF' } });
    // Undeliverable ticks go to the stage's own DLQ; the scheduler's role may invoke that function and send there, nothing else.
    const f = functions[fnId(stage)];
    expect(schedule.target.dead_letter_config.arn).toBe(f.dead_letter_config.target_arn);
    const roleId = /aws_iam_role\.([^.]+)\.arn/.exec(schedule.target.role_arn)![1];
    const policies = Object.values(s.resources('aws_iam_role_policy')).filter((p) => p.role === s.ref('aws_iam_role', roleId, 'id'));
    expect(policies.flatMap((p) => statementsOf(s, p.policy)).map((st) => [st.actions, st.resources])).toEqual([
      [['lambda:InvokeFunction'], [s.ref('aws_lambda_function', fnId(stage), 'arn')]],
      [['sqs:SendMessage'], [f.dead_letter_config.target_arn]],
      // The DLQ is encrypted with the stack's key.
      [['kms:Decrypt', 'kms:GenerateDataKey'], [s.ref('aws_kms_key', Object.keys(s.resources('aws_kms_key'))[0], 'arn')]],
    ]);
    // What EventBridge Scheduler delivers: the input, its context attributes filled in.
    const payload = JSON.parse(String(schedule.target.input)
      .replace('<aws.scheduler.scheduled-time>', '2026-11-25T20:45:00Z')
      .replace('<aws.scheduler.schedule-arn>', 'arn:aws:scheduler:eu-west-2:123456789012:schedule/default/x')
      .replace('<aws.scheduler.execution-id>', 'e1'));
    if (stage === 'extract') expect(parseScheduleEvent(payload)).toMatchObject({ time: '2026-11-25T20:45:00Z' });
    else expect(parseStageTrigger(payload)).toEqual({ tick: expect.objectContaining({ time: '2026-11-25T20:45:00Z' }) });
  });

  it.each([
    ['ingestion', EXTRACT_MANIFEST_PREFIX, 'transform'],
    ['processed', TRANSFORM_MANIFEST_PREFIX, 'load'],
  ])('a manifest in the %s bucket under %s starts the %s', (bucket, prefix, stage) => {
    const bucketId = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith(`-${bucket}-`));
    const ruleId = s.idOf('aws_cloudwatch_event_rule', (r) => JSON.parse(r.event_pattern).detail.object.key[0].prefix === prefix);
    expect(JSON.parse(s.resources('aws_cloudwatch_event_rule')[ruleId].event_pattern)).toEqual({
      source: ['aws.s3'], 'detail-type': ['Object Created'],
      detail: { bucket: { name: [s.ref('aws_s3_bucket', bucketId, 'bucket')] }, object: { key: [{ prefix }] } },
    });
    const targets = Object.values(s.resources('aws_cloudwatch_event_target')).filter((t) => t.rule === s.ref('aws_cloudwatch_event_rule', ruleId, 'name'));
    expect(targets).toEqual([expect.objectContaining({ arn: s.ref('aws_lambda_function', fnId(stage), 'arn') })]);
    const permissions = Object.values(s.resources('aws_lambda_permission')).filter((p) => p.source_arn === s.ref('aws_cloudwatch_event_rule', ruleId, 'arn'));
    expect(permissions).toEqual([expect.objectContaining({ principal: 'events.amazonaws.com', function_name: s.ref('aws_lambda_function', fnId(stage), 'function_name') })]);
  });
});

describe('monitoring', () => {
  it('the alarm topic has an e-mail subscription to the alarm_email variable', () => {
    expect(Object.values(s.resources('aws_sns_topic_subscription'))).toEqual([
      expect.objectContaining({ topic_arn: topicArn, protocol: 'email', endpoint: '${var.alarm_email}' }),
    ]);
  });

  it('every alarm notifies the topic', () => {
    expect(alarms.length).toBe(13);
    for (const a of alarms) expect(a.alarm_actions).toEqual([topicArn]);
  });

  const custom = (name: string) => alarms.filter((a) => a.namespace === METRICS.namespace && a.metric_name === name);

  it('watches Athena query failures through the QueryFailed metric', () => {
    expect(custom(METRICS.queryFailed)).toEqual([expect.objectContaining({ dimensions: { service: 'totes-lake' }, threshold: 1 })]);
  });

  it('alarms when no extract succeeded for 15 minutes, silence included', () => {
    const [a] = custom(METRICS.extractSucceeded);
    expect(a.period * a.evaluation_periods).toBe(15 * 60);
    expect(a).toMatchObject({ comparison_operator: 'LessThanThreshold', threshold: 1, treat_missing_data: 'breaching', statistic: 'Sum' });
  });

  it('alarms when the warehouse is more than 30 minutes behind, or its freshness went unmeasured for 30 minutes', () => {
    expect(custom(METRICS.freshness)).toHaveLength(2);
    expect(custom(METRICS.freshness)).toEqual(expect.arrayContaining([
      expect.objectContaining({ alarm_name: '${var.name_prefix}-freshness', statistic: 'Maximum', threshold: 1800, comparison_operator: 'GreaterThanThreshold', treat_missing_data: 'notBreaching' }),
      expect.objectContaining({
        alarm_name: '${var.name_prefix}-freshness-unmeasured', statistic: 'SampleCount', threshold: 1, comparison_operator: 'LessThanThreshold',
        treat_missing_data: 'breaching', evaluation_periods: 6, datapoints_to_alarm: 6, period: 300,
      }),
    ]));
  });

  it('the dashboard shows rows per table, stage durations, freshness and bytes scanned', () => {
    const [dashboard] = Object.values(s.resources('aws_cloudwatch_dashboard'));
    const body = JSON.parse(dashboard.dashboard_body) as { widgets: { properties: { metrics: unknown[][] } }[] };
    const lines = body.widgets.flatMap((w) => w.properties.metrics);
    const has = (metricName: string, ...dims: string[]) => lines.some((l) => l[0] === METRICS.namespace && l[1] === metricName && dims.every((d) => l.includes(d)));
    expect(has(METRICS.rows, 'table', 'sales_order', 'service', 'totes-lake')).toBe(true);
    expect(has(METRICS.rows, 'table', 'fact_sales_order')).toBe(true);
    for (const stage of stages) expect(has(METRICS.stageDuration, 'stage', stage)).toBe(true);
    expect(has(METRICS.freshness)).toBe(true);
    expect(has(METRICS.bytesScanned)).toBe(true);
  });
});

describe('athena and outputs', () => {
  it('the workgroup runs engine v3 with an enforced, encrypted result location and a bytes-scanned cutoff', () => {
    const [wg] = Object.values(s.resources('aws_athena_workgroup'));
    const resultsId = s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-athena-results-'));
    expect(wg.configuration).toMatchObject({
      engine_version: { selected_engine_version: 'Athena engine version 3' },
      enforce_workgroup_configuration: true,
      bytes_scanned_cutoff_per_query: '${var.athena_bytes_scanned_cutoff}',
      result_configuration: { output_location: `s3://${s.ref('aws_s3_bucket', resultsId, 'bucket')}/results/`, encryption_configuration: { encryption_option: 'SSE_KMS', kms_key_arn: s.ref('aws_kms_key', Object.keys(s.resources('aws_kms_key'))[0], 'arn') } },
    });
  });

  it('outputs bucket names, Glue databases, the workgroup, function names and the topic ARN', () => {
    expect(Object.keys(s.tf.output).sort()).toEqual(expect.arrayContaining([
      'alarm_topic_arn', 'athena_results_bucket', 'athena_workgroup', 'extract_function', 'glue_processed_database', 'glue_raw_database',
      'ingestion_bucket', 'lambda_code_bucket', 'load_function', 'processed_bucket', 'transform_function',
    ]));
  });
});
