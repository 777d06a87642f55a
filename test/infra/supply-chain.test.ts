import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { synthesizeStack } from './synthesized-stack';

/**
 * What the security review asked of the delivery around the stack: actions pinned by commit, least
 * permissions per workflow, no install while AWS credentials are live, the reviewed plan applied
 * and nothing else, Dependabot, checkov's configuration with a reason per skip and run by CI, and a
 * plan role that reads what `terraform plan` needs and nothing of the lake's data.
 */
const REPO = path.resolve(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const workflowFiles = readdirSync(path.join(REPO, '.github', 'workflows')).filter((f) => /\.ya?ml$/.test(f)).map((f) => `.github/workflows/${f}`);

/** A workflow's jobs, each as its lines, and each job's steps as their lines (workflows are indented by two). */
function jobsOf(text: string): Map<string, { lines: string[]; steps: string[][] }> {
  const jobs = new Map<string, { lines: string[]; steps: string[][] }>();
  let inJobs = false;
  let current: { lines: string[]; steps: string[][] } | undefined;
  for (const line of text.split('\n')) {
    if (/^jobs:\s*$/.test(line)) { inJobs = true; continue; }
    if (!inJobs) continue;
    if (/^\S/.test(line)) { inJobs = false; continue; }
    const job = /^ {2}([\w-]+):\s*$/.exec(line);
    if (job) { current = { lines: [], steps: [] }; jobs.set(job[1], current); continue; }
    if (!current) continue;
    current.lines.push(line);
    if (/^ {6}- /.test(line)) current.steps.push([line]);
    else if (/^ {8}/.test(line) && current.steps.length) current.steps[current.steps.length - 1].push(line);
  }
  return jobs;
}

describe('GitHub workflows', () => {
  it('there are workflows to check', () => expect(workflowFiles.sort()).toEqual(['.github/workflows/ci.yml', '.github/workflows/deploy.yml']));

  it.each(workflowFiles)('%s pins every action to a full commit SHA, with its release in a comment', (file) => {
    const uses = read(file).split('\n').filter((l) => /^\s*(- )?uses:/.test(l));
    expect(uses.length).toBeGreaterThan(3);
    for (const line of uses) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it.each(workflowFiles)('%s states its permissions, and only a job that assumes an AWS role may request an OIDC token', (file) => {
    const text = read(file);
    expect(text).toMatch(/^permissions:/m);
    for (const [name, job] of jobsOf(text)) {
      const body = job.lines.join('\n');
      const assumesRole = body.includes('aws-actions/configure-aws-credentials@');
      expect({ job: name, idToken: body.includes('id-token: write') }).toEqual({ job: name, idToken: assumesRole });
      expect({ job: name, writes: /(contents|packages|actions|pull-requests|issues|deployments|checks|statuses): write/.test(body) }).toEqual({ job: name, writes: false });
    }
  });

  it.each(workflowFiles)('%s runs nothing from npm once AWS credentials are in the job, and never npx --yes', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/npx\s+(--yes|-y)\b/);
    for (const [name, job] of jobsOf(text)) {
      const credentialsAt = job.steps.findIndex((step) => step.join('\n').includes('aws-actions/configure-aws-credentials@'));
      if (credentialsAt < 0) continue;
      const after = job.steps.slice(credentialsAt).map((step) => step.join('\n'));
      expect({ job: name, npmAfterCredentials: after.filter((step) => /\b(npm|npx|node|tsx)\b/.test(step.replace(/^.*#.*$/gm, ''))) }).toEqual({ job: name, npmAfterCredentials: [] });
    }
  });

  it('deploy.yml applies exactly the saved plan the reviewer approved', () => {
    const jobs = jobsOf(read('.github/workflows/deploy.yml'));
    const plan = jobs.get('plan')!.lines.join('\n');
    const deploy = jobs.get('deploy')!.lines.join('\n');
    expect(plan).toMatch(/terraform plan [^\n]*-out=tfplan/);
    expect(plan).toMatch(/terraform show -no-color tfplan > plan\.txt/);
    expect(plan).toContain('GITHUB_STEP_SUMMARY');
    expect(plan).toMatch(/actions\/upload-artifact@[0-9a-f]{40}[\s\S]*name: totes-lake-plan[\s\S]*\/tfplan[\s\S]*\/cdk\.tf\.json[\s\S]*\.terraform\.lock\.hcl[\s\S]*dist\/lambdas\/\*\.zip/);
    expect(deploy).toMatch(/environment: production/);
    expect(deploy).toMatch(/actions\/download-artifact@[0-9a-f]{40}[\s\S]*name: totes-lake-plan/);
    expect(deploy).toMatch(/needs\.plan\.outputs\.plan_sha256/);
    expect(deploy).toMatch(/sha256sum --check/);
    expect(deploy).toMatch(/terraform apply [^\n]*tfplan\s*$/m);
    expect(deploy).not.toMatch(/auto-approve|cdktf|terraform plan|actions\/checkout/);
  });

  it('Dependabot proposes updates of the pinned actions and of npm', () => {
    const config = read('.github/dependabot.yml');
    expect(config).toMatch(/package-ecosystem: github-actions/);
    expect(config).toMatch(/package-ecosystem: npm/);
  });
});

describe('checkov', () => {
  const config = read('cdktf/checkov.yaml');
  const skipLines = (() => {
    const lines = config.split('\n');
    const start = lines.findIndex((l) => /^skip-check:/.test(l));
    const rest = lines.slice(start + 1);
    const end = rest.findIndex((l) => /^\S/.test(l));
    return (end < 0 ? rest : rest.slice(0, end)).filter((l) => l.trim() && !l.trim().startsWith('#'));
  })();

  it('scans the synthesized Terraform JSON', () => expect(config).toMatch(/^framework:\n\s+- terraform_json$/m));

  it('every skipped check carries its reason on its line', () => {
    expect(skipLines.length).toBeGreaterThan(0);
    for (const line of skipLines) expect(line).toMatch(/^\s+- CKV2?_AWS_\d+\s+# \S.{40,}$/);
    const ids = skipLines.map((l) => /CKV2?_AWS_\d+/.exec(l)![0]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('runs in CI: .ci/run installs it (a failed install fails CI) and runs npm run check:infra', () => {
    const ci = read('.ci/run');
    const trap = ci.slice(ci.indexOf("trap 'echo"), ci.indexOf('trap - ERR'));
    expect(trap).toContain('bash test/support/install-checkov.sh');
    expect(ci).toMatch(/^npm run check:infra$/m);
    expect(JSON.parse(read('package.json')).scripts['check:infra']).toBe('bash cdktf/check-infra.sh');
    expect(read('cdktf/check-infra.sh')).toContain('--config-file "$config"');
  });
});

describe('the plan role (cdktf/access/plan-role-policy.json)', () => {
  interface PolicyStatement { Sid: string; Effect: 'Allow' | 'Deny'; Action: string[]; Resource: string[] }
  const policy = JSON.parse(read('cdktf/access/plan-role-policy.json')) as { Version: string; Statement: PolicyStatement[] };
  const allows = policy.Statement.filter((st) => st.Effect === 'Allow');
  const denies = policy.Statement.filter((st) => st.Effect === 'Deny');
  const allowed = (action: string) => allows.some((st) => st.Action.includes(action));
  const s = synthesizeStack();

  /** What refreshing each resource type of the stack reads (hashicorp/aws), nothing that reads data. */
  const READS: Record<string, string[]> = {
    aws_athena_named_query: ['athena:GetNamedQuery'],
    aws_athena_workgroup: ['athena:GetWorkGroup'],
    aws_cloudtrail: ['cloudtrail:DescribeTrails', 'cloudtrail:GetTrailStatus', 'cloudtrail:GetEventSelectors'],
    aws_cloudwatch_dashboard: ['cloudwatch:GetDashboard'],
    aws_cloudwatch_event_rule: ['events:DescribeRule'],
    aws_cloudwatch_event_target: ['events:ListTargetsByRule'],
    aws_cloudwatch_log_group: ['logs:DescribeLogGroups'],
    aws_cloudwatch_metric_alarm: ['cloudwatch:DescribeAlarms'],
    aws_glue_catalog_database: ['glue:GetDatabase'],
    aws_glue_catalog_table: ['glue:GetTable'],
    aws_iam_policy: ['iam:GetPolicy', 'iam:GetPolicyVersion'],
    aws_iam_role: ['iam:GetRole', 'iam:ListAttachedRolePolicies'],
    aws_iam_role_policy: ['iam:GetRolePolicy'],
    aws_kms_alias: ['kms:ListAliases'],
    aws_kms_key: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus'],
    aws_lambda_function: ['lambda:GetFunction', 'lambda:GetFunctionCodeSigningConfig'],
    aws_lambda_function_event_invoke_config: ['lambda:GetFunctionEventInvokeConfig'],
    aws_lambda_permission: ['lambda:GetPolicy'],
    aws_s3_bucket: ['s3:ListBucket', 's3:GetBucketPolicy', 's3:GetBucketVersioning', 's3:GetEncryptionConfiguration'],
    aws_s3_bucket_lifecycle_configuration: ['s3:GetLifecycleConfiguration'],
    aws_s3_bucket_notification: ['s3:GetBucketNotification'],
    aws_s3_bucket_object_lock_configuration: ['s3:GetBucketObjectLockConfiguration'],
    aws_s3_bucket_ownership_controls: ['s3:GetBucketOwnershipControls'],
    aws_s3_bucket_policy: ['s3:GetBucketPolicy'],
    aws_s3_bucket_public_access_block: ['s3:GetBucketPublicAccessBlock'],
    aws_s3_bucket_server_side_encryption_configuration: ['s3:GetEncryptionConfiguration'],
    aws_s3_bucket_versioning: ['s3:GetBucketVersioning'],
    aws_s3_object: ['s3:GetObject'],
    aws_scheduler_schedule: ['scheduler:GetSchedule'],
    aws_sns_topic: ['sns:GetTopicAttributes'],
    aws_sns_topic_subscription: ['sns:GetSubscriptionAttributes'],
    aws_sqs_queue: ['sqs:GetQueueAttributes'],
    aws_sqs_queue_policy: ['sqs:GetQueueAttributes'],
  };

  it('knows every resource type of the stack (a new type must be added here and to the policy)', () => {
    expect(Object.keys(s.tf.resource).sort()).toEqual(Object.keys(READS).sort());
  });

  it.each(Object.entries(READS))('lets terraform plan read %s', (_type, actions) => {
    for (const action of actions) expect({ action, allowed: allowed(action) }).toEqual({ action, allowed: true });
  });

  it('grants no wildcard action, no write of the stack, and nothing that reads data', () => {
    const actions = allows.flatMap((st) => st.Action);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(actions.filter((a) => /^[a-z0-9-]+:(Put|Create|Delete|Update|Attach|Detach|Start|Stop|Invoke|Send|Receive|Publish|Decrypt|Encrypt|Generate|ReEncrypt|Tag|Untag)/.test(a)))
      .toEqual(['s3:PutObject', 's3:DeleteObject']);
    for (const st of allows.filter((x) => x.Action.some((a) => a === 's3:PutObject' || a === 's3:DeleteObject'))) {
      expect(st.Resource.every((r) => r.startsWith('arn:aws:s3:::STATE_BUCKET/STATE_KEY'))).toBe(true);
    }
    // The one object read is of the state and of the function bundles, never of a lake bucket.
    const objectReads = allows.filter((st) => st.Action.includes('s3:GetObject')).flatMap((st) => st.Resource);
    expect(objectReads).toEqual(['arn:aws:s3:::STATE_BUCKET/STATE_KEY', 'arn:aws:s3:::STATE_BUCKET/STATE_KEY.tflock', 'arn:aws:s3:::totes-lake-lambda-code-*/lambdas/*']);
  });

  it('denies, whatever else the role is given, the objects of every data bucket of the stack, KMS decryption, queries, secrets, logs and messages', () => {
    const prefixes = Object.values(s.resources('aws_s3_bucket')).map((b) => String(b.bucket_prefix).replace('${var.name_prefix}', 'totes-lake'));
    const dataBuckets = prefixes.filter((p) => !p.endsWith('-lambda-code-'));
    const deniedObjects = denies.filter((st) => st.Action.includes('s3:GetObject')).flatMap((st) => st.Resource);
    expect(deniedObjects.sort()).toEqual(dataBuckets.map((p) => `arn:aws:s3:::${p}*/*`).sort());
    const deniedEverywhere = denies.filter((st) => st.Resource.includes('*')).flatMap((st) => st.Action);
    expect(deniedEverywhere).toEqual(expect.arrayContaining([
      'kms:Decrypt', 'athena:StartQueryExecution', 'athena:GetQueryResults', 'secretsmanager:GetSecretValue', 'logs:GetLogEvents', 'logs:FilterLogEvents', 'sqs:ReceiveMessage', 'lambda:InvokeFunction',
    ]));
  });

  it('is what the README gives the plan role', () => {
    const readme = read('README.md');
    expect(readme).toContain('cdktf/access/plan-role-policy.json');
    expect(readme).not.toMatch(/ReadOnlyAccess/);
  });
});
