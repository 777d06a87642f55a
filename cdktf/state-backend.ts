import { LocalBackend, S3Backend, TerraformStack } from 'cdktf';
import { z } from 'zod';

/**
 * Where Terraform keeps the stack's state, chosen at synth time from the environment (a backend
 * cannot read Terraform variables). Unset: a local `terraform.<stack>.tfstate` at the repository root, right for `npm run
 * synth`, tests and a first try. Set `TOTES_TF_STATE_BUCKET` to keep state in S3 (encrypted, locked
 * with an S3 lock file, or a DynamoDB table when `TOTES_TF_STATE_LOCK_TABLE` is set).
 */
export const stateBackendEnv = z.object({
  TOTES_TF_STATE_BUCKET: z.string().min(3).optional(),
  TOTES_TF_STATE_KEY: z.string().min(1).default('totes-lake/terraform.tfstate'),
  TOTES_TF_STATE_REGION: z.string().min(1).optional(),
  TOTES_TF_STATE_LOCK_TABLE: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
});

export type StateBackendEnv = z.infer<typeof stateBackendEnv>;

export function parseStateBackendEnv(env: NodeJS.ProcessEnv): StateBackendEnv {
  const parsed = stateBackendEnv.safeParse(env);
  if (!parsed.success) {
    throw new Error(`Invalid Terraform state settings in the environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}. Unset TOTES_TF_STATE_* for local state.`);
  }
  return parsed.data;
}

export function configureStateBackend(stack: TerraformStack, stackName: string, env: StateBackendEnv): 's3' | 'local' {
  if (!env.TOTES_TF_STATE_BUCKET) {
    // Relative to Terraform's working directory (cdktf.out/stacks/<stack>/): the state file sits at
    // the repository root, out of cdktf.out (which may be wiped) and the same on every machine.
    new LocalBackend(stack, { path: `../../../terraform.${stackName}.tfstate` });
    return 'local';
  }
  const backend = new S3Backend(stack, {
    bucket: env.TOTES_TF_STATE_BUCKET,
    key: env.TOTES_TF_STATE_KEY,
    region: env.TOTES_TF_STATE_REGION ?? env.AWS_REGION ?? 'eu-west-2',
    encrypt: true,
    dynamodbTable: env.TOTES_TF_STATE_LOCK_TABLE,
  });
  // Terraform >= 1.10 locks S3 state with a lock object; cdktf 0.21 does not type the option yet.
  if (!env.TOTES_TF_STATE_LOCK_TABLE) backend.addOverride('use_lockfile', true);
  return 's3';
}
