import { z } from 'zod';
import { ENV } from '../core/contract/runtime-contract';

const bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name');
const glueName = z.string().regex(/^[a-z0-9_]{1,255}$/, 'a Glue name (lowercase letters, digits, _)');
const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'a Secrets Manager secret ARN');

/**
 * The settings a Lambda function reads from its environment (names in `runtime-contract.ts`
 * `ENV`, which the cdktf stack sets). Each function needs only some of them: a setting it lacks
 * is undefined here, and the port that needs it fails with a message naming the variable.
 */
export const AwsConfig = z.object({
  ingestionBucket: bucket.optional(),
  processedBucket: bucket.optional(),
  rawDatabase: glueName.optional(),
  processedDatabase: glueName.optional(),
  athenaWorkgroup: z.string().regex(/^[a-zA-Z0-9._-]{1,128}$/, 'an Athena workgroup name').optional(),
  sourceSecretArn: secretArn.optional(),
  warehouseSecretArn: secretArn.optional(),
  warehouseSchema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a PostgreSQL schema name').default('public'),
  commitLagSeconds: z.coerce.number().int().nonnegative().max(3600).default(0),
});
export type AwsConfig = z.infer<typeof AwsConfig>;
export type AwsSetting = keyof typeof ENV;

/** Parses the environment; a malformed value fails with the variable's name and what it should be. */
export function readAwsConfig(env: Record<string, string | undefined> = process.env): AwsConfig {
  const raw: Record<string, string | undefined> = {};
  for (const [key, name] of Object.entries(ENV)) {
    const value = env[name];
    raw[key] = value === undefined || value.trim() === '' ? undefined : value.trim();
  }
  const parsed = AwsConfig.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = String(i.path[0]) as AwsSetting;
      return `${ENV[key] ?? key}: expected ${i.message}`;
    });
    throw new Error(`Invalid function environment: ${problems.join('; ')}. The cdktf stack sets these variables; check its outputs.`);
  }
  return parsed.data;
}

/** A setting a port needs; throws naming the environment variable when it is not set. */
export function requireSetting<K extends AwsSetting>(config: AwsConfig, key: K, neededFor: string): NonNullable<AwsConfig[K]> {
  const value = config[key];
  if (value === undefined) throw new Error(`${ENV[key]} is not set, but ${neededFor} needs it; set it in the function's environment (cdktf stack)`);
  return value as NonNullable<AwsConfig[K]>;
}
