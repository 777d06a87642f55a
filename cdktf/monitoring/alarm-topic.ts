import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { Construct } from 'constructs';

/**
 * The one SNS topic every alarm notifies, with the operator's e-mail subscribed. AWS sends a
 * confirmation e-mail after the first deploy; no alarm reaches the inbox until it is confirmed.
 * Encrypted with the stack's key, whose policy lets CloudWatch alarms of this stack publish
 * (security/lake-key.ts, AlarmsPublishToEncryptedTopic).
 */
export class AlarmTopic extends Construct {
  readonly topic: SnsTopic;

  constructor(scope: Construct, id: string, props: { name: string; email: string; kmsKeyArn: string }) {
    super(scope, id);
    this.topic = new SnsTopic(this, 'topic', { name: props.name, displayName: 'Totes Lake alarms', kmsMasterKeyId: props.kmsKeyArn });
    new SnsTopicSubscription(this, 'email', { topicArn: this.topic.arn, protocol: 'email', endpoint: props.email });
  }
}
