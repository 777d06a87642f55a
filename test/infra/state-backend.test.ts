import { parseStateBackendEnv } from '../../cdktf/state-backend';
import { synthesizeStack } from './synthesized-stack';

describe('Terraform state', () => {
  it('is local by default, so synth needs no AWS', () => {
    expect(synthesizeStack().tf.terraform.backend).toEqual({ local: { path: '../../../terraform.totes-lake.tfstate' } });
  });

  it('goes to S3 when TOTES_TF_STATE_BUCKET is set, encrypted and locked', () => {
    const env = parseStateBackendEnv({ TOTES_TF_STATE_BUCKET: 'acme-tf-state', AWS_REGION: 'eu-west-1' });
    expect(synthesizeStack(env).tf.terraform.backend).toEqual({
      s3: { bucket: 'acme-tf-state', key: 'totes-lake/terraform.tfstate', region: 'eu-west-1', encrypt: true, use_lockfile: true },
    });
  });

  it('locks with DynamoDB when a lock table is given', () => {
    const env = parseStateBackendEnv({ TOTES_TF_STATE_BUCKET: 'acme-tf-state', TOTES_TF_STATE_LOCK_TABLE: 'tf-locks', TOTES_TF_STATE_REGION: 'us-east-1' });
    expect(synthesizeStack(env).tf.terraform.backend.s3).toMatchObject({ region: 'us-east-1', dynamodb_table: 'tf-locks' });
  });
});
