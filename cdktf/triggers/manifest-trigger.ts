import { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule';
import { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy';
import { Construct } from 'constructs';
import { policyDocument } from '../access/policy-document';
import type { PipelineFunction } from '../compute/pipeline-function';

export interface ManifestTriggerProps {
  name: string;
  description: string;
  /** Bucket whose `Object Created` events are matched (EventBridge notifications enabled). */
  bucketName: string;
  /** Key prefix of the manifests, from the lake layout. */
  keyPrefix: string;
  target: PipelineFunction;
  /** The account of the stack: EventBridge acts for this account's rule only. */
  accountId: string;
}

/** The EventBridge pattern of "a manifest was written under `keyPrefix` in `bucketName`". */
export function manifestEventPattern(bucketName: string, keyPrefix: string): string {
  return JSON.stringify({
    source: ['aws.s3'],
    'detail-type': ['Object Created'],
    detail: { bucket: { name: [bucketName] }, object: { key: [{ prefix: keyPrefix }] } },
  });
}

/**
 * Starts the next stage when a manifest lands: a manifest is written last and exactly once per
 * batch, so its creation is the one reliable "batch complete" signal. Events EventBridge cannot
 * deliver go to the target function's DLQ, which therefore lets this rule (and only it) send. Both
 * grants to EventBridge name the rule (aws:SourceArn) and the account (aws:SourceAccount).
 */
export class ManifestTrigger extends Construct {
  readonly rule: CloudwatchEventRule;

  constructor(scope: Construct, id: string, props: ManifestTriggerProps) {
    super(scope, id);
    const { fn, deadLetterQueue } = props.target;
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name: props.name,
      description: props.description,
      eventPattern: manifestEventPattern(props.bucketName, props.keyPrefix),
    });
    new CloudwatchEventTarget(this, 'target', {
      rule: this.rule.name,
      targetId: 'stage-function',
      arn: fn.arn,
      retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 10 },
      deadLetterConfig: { arn: deadLetterQueue.arn },
    });
    new LambdaPermission(this, 'invoke', {
      statementId: 'AllowManifestRule',
      action: 'lambda:InvokeFunction',
      functionName: fn.functionName,
      principal: 'events.amazonaws.com',
      sourceArn: this.rule.arn,
      sourceAccount: props.accountId,
    });
    new SqsQueuePolicy(this, 'dlq-policy', {
      queueUrl: deadLetterQueue.url,
      policy: policyDocument(this, 'dlq-policy-document', [{
        sid: 'RuleDeadLetters',
        actions: ['sqs:SendMessage'],
        resources: [deadLetterQueue.arn],
        principals: [{ type: 'Service', identifiers: ['events.amazonaws.com'] }],
        conditions: [
          { test: 'ArnEquals', variable: 'aws:SourceArn', values: [this.rule.arn] },
          { test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] },
        ],
      }]).json,
    });
  }
}
