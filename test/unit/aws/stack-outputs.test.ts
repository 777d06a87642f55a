import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STACK_OUTPUTS, STACK_VERSION } from '../../../functions/core/contract/stack-contract';
import { loadStackTarget, parseStackOutputs, stackTargetFromEnv, StackOutputsError } from '../../../functions/aws/stack-outputs';

/** `terraform output -json` of a deployed stack (the shape Terraform prints: name → { value, type, sensitive }). */
function terraformOutputs(overrides: Record<string, string | undefined> = {}): Record<string, { value: string; type: string; sensitive: boolean }> {
  const values: Record<string, string | undefined> = {
    [STACK_OUTPUTS.stackVersion]: String(STACK_VERSION),
    [STACK_OUTPUTS.region]: 'eu-west-2',
    [STACK_OUTPUTS.namePrefix]: 'totes-prod',
    [STACK_OUTPUTS.ingestionBucket]: 'totes-prod-ingestion-123',
    [STACK_OUTPUTS.processedBucket]: 'totes-prod-processed-123',
    [STACK_OUTPUTS.athenaResultsBucket]: 'totes-prod-athena-results-123',
    [STACK_OUTPUTS.rawDatabase]: 'totes_prod_raw',
    [STACK_OUTPUTS.processedDatabase]: 'totes_prod_processed',
    [STACK_OUTPUTS.athenaWorkgroup]: 'totes-prod',
    [STACK_OUTPUTS.sourceSecretArn]: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:totesys-AbCd',
    [STACK_OUTPUTS.warehouseSecretArn]: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse-EfGh',
    [STACK_OUTPUTS.warehouseSchema]: 'analytics',
    [STACK_OUTPUTS.extractFunction]: 'totes-prod-extract',
    [STACK_OUTPUTS.operatorPolicyArn]: 'arn:aws:iam::123456789012:policy/totes-prod-operator',
    [STACK_OUTPUTS.operatorBackfillPolicyArn]: 'arn:aws:iam::123456789012:policy/totes-prod-operator-backfill',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(values).flatMap(([k, v]) => (v === undefined ? [] : [[k, { value: v, type: 'string', sensitive: false }]])));
}

const fails = (run: () => unknown): string => {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(StackOutputsError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a StackOutputsError');
};

describe('parseStackOutputs', () => {
  it('turns terraform output -json into the config the Lambdas read, with the region, version and policy', () => {
    const target = parseStackOutputs(terraformOutputs(), 'stack outputs in x.json');
    expect(target.config).toEqual({
      ingestionBucket: 'totes-prod-ingestion-123',
      processedBucket: 'totes-prod-processed-123',
      rawDatabase: 'totes_prod_raw',
      processedDatabase: 'totes_prod_processed',
      athenaWorkgroup: 'totes-prod',
      sourceSecretArn: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:totesys-AbCd',
      warehouseSecretArn: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse-EfGh',
      warehouseSchema: 'analytics',
      commitLagSeconds: 0,
    });
    expect(target).toMatchObject({ region: 'eu-west-2', version: STACK_VERSION, namePrefix: 'totes-prod', extractFunction: 'totes-prod-extract', operatorPolicyArn: 'arn:aws:iam::123456789012:policy/totes-prod-operator' });
    expect(target.operatorBackfillPolicyArn).toBe('arn:aws:iam::123456789012:policy/totes-prod-operator-backfill');
    // A stack from before the backfill policy: no output, and the denial names the output instead.
    expect(parseStackOutputs(terraformOutputs({ [STACK_OUTPUTS.operatorBackfillPolicyArn]: undefined }), 'x').operatorBackfillPolicyArn).toBeNull();
  });

  it('takes plain name → value pairs too', () => {
    const plain = Object.fromEntries(Object.entries(terraformOutputs()).map(([k, v]) => [k, v.value]));
    expect(parseStackOutputs(plain, 'stack outputs in x.json').config.processedBucket).toBe('totes-prod-processed-123');
  });

  it('refuses empty outputs: nothing deployed there', () => {
    expect(fails(() => parseStackOutputs({}, 'stack outputs in x.json'))).toMatch(/^The stack outputs in x\.json are empty: the stack is not deployed \(README `Deploy`: `terraform apply` of the synthesized stack\)/);
    expect(fails(() => parseStackOutputs([], 'stack outputs in x.json'))).toMatch(/are not a JSON object of outputs; write them with `terraform output -json > stack-outputs.json`/);
  });

  it('refuses a stack of another version, saying which side to update', () => {
    expect(fails(() => parseStackOutputs(terraformOutputs({ stack_version: String(STACK_VERSION + 1) }), 'stack outputs in x.json'))).toBe(
      `The stack of the stack outputs in x.json is version ${STACK_VERSION + 1}, this totes reads version ${STACK_VERSION}: update this checkout to the one that deployed the stack, or use the totes of the checkout that deployed it`,
    );
    expect(fails(() => parseStackOutputs(terraformOutputs({ stack_version: '0' }), 'o'))).toMatch(/is version 0, this totes reads version \d+: redeploy the stack from this checkout \(README `Deploy`\)/);
    expect(fails(() => parseStackOutputs(terraformOutputs({ stack_version: undefined }), 'o'))).toMatch(/have no stack_version: the stack was deployed by an older checkout; redeploy it/);
    expect(fails(() => parseStackOutputs({ vpc_id: { value: 'vpc-1' } }, 'o'))).toMatch(/are not a Totes Lake stack's \(no stack_version, no ingestion_bucket\)/);
  });

  it('names the outputs that are missing or malformed', () => {
    expect(fails(() => parseStackOutputs(terraformOutputs({ warehouse_secret_arn: undefined, athena_workgroup: undefined }), 'o'))).toMatch(/^The o lack athena_workgroup, warehouse_secret_arn: /);
    expect(fails(() => parseStackOutputs(terraformOutputs({ processed_bucket: 'Not_A_Bucket' }), 'o'))).toMatch(/invalid values \(processed_bucket: expected an S3 bucket name\)/);
  });
});

describe('stackTargetFromEnv: the variables the Lambdas read', () => {
  const env = {
    TOTES_INGESTION_BUCKET: 'totes-prod-ingestion-123',
    TOTES_PROCESSED_BUCKET: 'totes-prod-processed-123',
    TOTES_GLUE_RAW_DATABASE: 'totes_prod_raw',
    TOTES_GLUE_PROCESSED_DATABASE: 'totes_prod_processed',
    TOTES_ATHENA_WORKGROUP: 'totes-prod',
    TOTES_SOURCE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:totesys-AbCd',
    TOTES_WAREHOUSE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse-EfGh',
    AWS_REGION: 'eu-west-2',
  };

  it('is undefined when none is set, and the same config as the outputs when all are', () => {
    expect(stackTargetFromEnv({ PATH: '/bin' })).toBeUndefined();
    const target = stackTargetFromEnv(env)!;
    expect(target.config).toEqual({ ...parseStackOutputs(terraformOutputs(), 'o').config, warehouseSchema: 'public' });
    expect(target).toMatchObject({ region: 'eu-west-2', version: null });
  });

  it('names the variables that are missing', () => {
    const { AWS_REGION: _r, TOTES_ATHENA_WORKGROUP: _w, ...partial } = env;
    expect(fails(() => stackTargetFromEnv(partial))).toBe('The TOTES_* environment variables lack AWS_REGION, TOTES_ATHENA_WORKGROUP: set every variable the functions read, or pass --stack-outputs FILE instead');
  });
});

describe('loadStackTarget', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'stack-outputs-'));

  it('reads --stack-outputs FILE first', async () => {
    const file = path.join(dir, 'outputs.json');
    writeFileSync(file, JSON.stringify(terraformOutputs()));
    const target = await loadStackTarget({ file, env: { TOTES_INGESTION_BUCKET: 'ignored-bucket' } });
    expect(target.origin).toBe(`stack outputs in ${file}`);
    expect(target.config.ingestionBucket).toBe('totes-prod-ingestion-123');
  });

  it('says what to do when the file is missing or not JSON', async () => {
    await expect(loadStackTarget({ file: path.join(dir, 'nope.json'), env: {} })).rejects.toThrow(/^Cannot read the stack outputs in .*nope\.json \(no such file\); write them with `terraform output -json > stack-outputs.json` in the deployed stack's directory/);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, 'Outputs:\n\ningestion_bucket = "x"\n');
    await expect(loadStackTarget({ file: bad, env: {} })).rejects.toThrow(/are not JSON; write them with `terraform output -json/);
  });

  it('with no file and no variables, needs the deployed stack directory', async () => {
    await expect(loadStackTarget({ stackDir: path.join(dir, 'no-stack'), env: {} })).rejects.toThrow(/^No stack outputs: pass --stack-outputs FILE, set the functions' TOTES_\* variables, or run where the stack was deployed/);
  });
});
