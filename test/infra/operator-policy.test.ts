import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ATHENA_TEMP_TABLE_PREFIX } from '../../cdktf/access/operator-policy';
import { backfillBatchesTableName, baseBatchesTableName, monthsTableName } from '../../functions/aws/fact-view';
import { BACKFILL_AWS_NEEDS } from '../../functions/cli/commands/aws-operate';
import { STACK_OUTPUTS, STACK_VERSION } from '../../functions/core/contract/stack-contract';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import {
  backfillFactPrefix,
  backfillKey,
  extractManifestKey,
  factBatchPrefix,
  leaseKey,
  modelVersionKey,
  transformManifestKey,
} from '../../functions/core/lake/lake-layout';
import { TEMP_PREFIX } from '../../functions/engines/athena/relations';
import { statementsOf, synthesizeStack, type Block } from './synthesized-stack';

/** The operator's policies and the outputs `totes <command> --aws` reads (cdktf/access/operator-policy.ts). */
const s = synthesizeStack();
const policy = (suffix: string) => {
  const found = Object.values(s.resources('aws_iam_policy')).find((p) => p.name === `\${var.name_prefix}-${suffix}`);
  if (!found) throw new Error(`No policy ${suffix}`);
  return statementsOf(s, found.policy);
};
const bucket = (suffix: string) => s.ref('aws_s3_bucket', s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith(suffix)), 'arn');

describe('the stack outputs', () => {
  it('name everything the CLI reads, with the stack version', () => {
    const outputs = s.tf.output as Record<string, { value: string }>;
    for (const name of Object.values(STACK_OUTPUTS)) expect(Object.keys(outputs)).toContain(name);
    expect(outputs[STACK_OUTPUTS.stackVersion].value).toBe(String(STACK_VERSION));
  });
});

describe('the read-only operator policy', () => {
  const statements = policy('operator');
  const actions = statements.flatMap((st) => st.actions as string[]);

  it('writes no object in the ingestion or processed bucket', () => {
    const lake = [bucket('-ingestion-'), bucket('-processed-')];
    const writes = statements.filter((st) => (st.actions as string[]).some((a) => /^s3:(Put|Delete|Abort|Restore)/.test(a)));
    for (const st of writes) for (const r of st.resources as string[]) expect(lake.some((b) => r.startsWith(b))).toBe(false);
    expect(writes.flatMap((st) => st.resources)).toEqual([`${bucket('-athena-results-')}/*`]);
  });

  it('changes the catalog only for the Athena engine\'s temporary tables', () => {
    const glueWrites = statements.filter((st) => (st.actions as string[]).some((a) => /^glue:(Create|Delete|BatchDelete|Update)/.test(a)));
    expect(glueWrites).toHaveLength(1);
    const tables = (glueWrites[0].resources as string[]).filter((r) => r.includes(':table/'));
    expect(tables).toEqual([expect.stringMatching(new RegExp(`:table/.+/${TEMP_PREFIX}\\*$`))]);
    expect(ATHENA_TEMP_TABLE_PREFIX).toBe(TEMP_PREFIX);
  });

  it('runs queries, reads both secrets and the alarms, and invokes nothing', () => {
    expect(actions).toEqual(expect.arrayContaining(['athena:StartQueryExecution', 'secretsmanager:GetSecretValue', 'cloudwatch:DescribeAlarms', 'glue:GetTable', 's3:GetObject']));
    expect(actions.filter((a) => a.startsWith('lambda:'))).toEqual([]);
    const secrets = statements.find((st) => (st.actions as string[]).includes('secretsmanager:GetSecretValue'))!;
    expect(secrets.resources).toEqual(['${var.source_secret_arn}', '${var.warehouse_secret_arn}']);
  });
});

describe('the run policy', () => {
  it('invokes the extract function only', () => {
    const extract = s.idOf('aws_lambda_function', (f) => String(f.function_name).endsWith('-extract'));
    expect(policy('operator-run')).toEqual([expect.objectContaining({ actions: ['lambda:InvokeFunction'], resources: [s.ref('aws_lambda_function', extract, 'arn')] })]);
  });
});

describe('the lake key', () => {
  it('the read-only policy may use every KMS key of the stack (S3 objects and Athena results are encrypted with it)', () => {
    const keys = Object.keys(s.resources('aws_kms_key')).map((id) => s.ref('aws_kms_key', id, 'arn'));
    const kms = policy('operator').filter((st) => (st.actions as string[]).some((a) => a.startsWith('kms:')));
    if (!keys.length) return expect(kms).toEqual([]);
    expect(kms).toEqual([expect.objectContaining({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: keys })]);
  });
});

/**
 * `totes backfill <fact> --aws` (core/transform/backfill.ts through aws/s3-object-store.ts,
 * aws/glue-catalog.ts replacePartitions and the Athena engine) runs with the read-only policy and
 * the backfill policy attached. Every call it makes is listed here from the code, with the keys and
 * names the code builds (lake-layout.ts, aws/fact-view.ts), and must be allowed; what it never
 * touches must stay denied.
 */
describe('the backfill policy', () => {
  const read = policy('operator');
  const backfillPolicy = policy('operator-backfill');
  const granted = [...read, ...backfillPolicy];
  const processed = bucket('-processed-');
  const ingestion = bucket('-ingestion-');
  const results = bucket('-athena-results-');
  const catalogArn = (read.find((st) => st.sid === 'ReadCatalog')!.resources as string[]).find((r) => r.endsWith(':catalog'))!;
  const glueBase = catalogArn.slice(0, -':catalog'.length);
  const databaseArn = (read.find((st) => st.sid === 'TemporaryTables')!.resources as string[]).find((r) => r.includes(':database/'))!;
  const processedDb = databaseArn.slice(databaseArn.indexOf(':database/') + ':database/'.length);
  const rawDb = (read.find((st) => st.sid === 'ReadCatalog')!.resources as string[]).find((r) => r.includes(':database/') && r !== databaseArn)!.split(':database/')[1];
  const workgroup = (read.find((st) => st.sid === 'RunQueries')!.resources as string[])[0];

  const glob = (pattern: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const allows = (statements: Block[], action: string, resource: string) =>
    statements.some((st) => (st.effect ?? 'Allow') === 'Allow' && (st.actions as string[]).some((a) => glob(a).test(action)) && (st.resources as string[]).some((r) => glob(r).test(resource)));
  /** A Glue call on a table is authorized on the catalog, the database and the table. */
  const table = (db: string, name: string) => [catalogArn, `${glueBase}:database/${db}`, `${glueBase}:table/${db}/${name}`];
  const object = (arn: string, key: string) => `${arn}/${key}`;

  const facts = STAR_TABLES.filter((t) => t.kind === 'fact').map((t) => t.name);
  const hash = 'c0ffee'.repeat(10) + 'beef';
  const first = '0000000001-20261125T200000Z-aaaa';
  const batch = '0000000002-20261125T200500Z-bbbb';
  const temp = `${TEMP_PREFIX}1a2b3c4d_1_`;

  /** [action, resources] the backfill of `fact` calls, from the code. */
  const callsOf = (fact: string): [string, string[]][] => {
    const rebuilt = backfillFactPrefix(fact, hash, first, batch);
    const batchesTable = backfillBatchesTableName(fact, hash.slice(0, 12));
    return [
      // backfill.ts: progress, the published version, the manifests and raw files it rebuilds from.
      ['s3:GetObject', [object(processed, backfillKey(fact, hash))]],
      ['s3:PutObject', [object(processed, backfillKey(fact, hash))]],
      ['s3:GetObject', [object(processed, modelVersionKey(fact))]],
      ['s3:PutObject', [object(processed, modelVersionKey(fact))]],
      ['s3:GetObject', [object(processed, transformManifestKey(2))]],
      ['s3:GetObject', [object(ingestion, extractManifestKey(2))]],
      ['s3:ListBucket', [processed]],
      ['s3:ListBucket', [ingestion]],
      // stage-lease.ts: the transform lease of the next batch, taken and released.
      ['s3:GetObject', [object(processed, leaseKey('transform', 3, 1))]],
      ['s3:PutObject', [object(processed, leaseKey('transform', 3, 1))]],
      ['s3:PutObject', [object(processed, leaseKey('transform', 3, 1, true))]],
      // The Athena engine: a leftover of a crashed attempt cleared, the CTAS's files written, read back.
      ['s3:DeleteObject', [object(processed, `${rebuilt}part-0.parquet`)]],
      ['s3:PutObject', [object(processed, `${rebuilt}part-0.parquet`)]],
      ['s3:AbortMultipartUpload', [object(processed, `${rebuilt}part-0.parquet`)]],
      ['s3:ListMultipartUploadParts', [object(processed, `${rebuilt}part-0.parquet`)]],
      ['s3:GetObject', [object(processed, `${rebuilt}part-0.parquet`)]],
      ['s3:GetObject', [object(ingestion, `raw/sales_order/dt=2026-11-25/${batch}.ndjson.gz`)]],
      ['athena:StartQueryExecution', [workgroup]],
      ['athena:GetQueryExecution', [workgroup]],
      ['athena:GetQueryResults', [workgroup]],
      ['s3:PutObject', [object(results, 'results/q.csv')]],
      ['s3:GetObject', [object(results, 'results/q.csv')]],
      ['glue:GetTable', table(rawDb, 'raw_sales_order')],
      ['glue:GetTable', table(processedDb, fact)],
      ['glue:CreateTable', table(processedDb, `${temp}${fact}`)],
      ['glue:BatchCreatePartition', table(processedDb, `${temp}${fact}`)],
      ['glue:BatchDeleteTable', table(processedDb, `${temp}${fact}`)],
      // glue-catalog.ts replacePartitions: the fact's view (ensureFactView), the new batches table built, the view switched, the rest cleaned up.
      ['glue:CreateTable', table(processedDb, baseBatchesTableName(fact))],
      ['glue:CreateTable', table(processedDb, fact)],
      ['glue:DeleteTable', table(processedDb, fact)],
      ['glue:DeleteTable', table(processedDb, batchesTable)],
      ['glue:CreateTable', table(processedDb, batchesTable)],
      ['glue:BatchCreatePartition', table(processedDb, batchesTable)],
      ['glue:UpdateTable', table(processedDb, fact)],
      ['glue:GetTables', [catalogArn, `${glueBase}:database/${processedDb}`]],
      ['glue:GetPartitions', table(processedDb, batchesTable)],
      ['glue:DeleteTable', table(processedDb, backfillBatchesTableName(fact, '0123456789ab'))],
      ['glue:DeleteTable', table(processedDb, monthsTableName(fact, first))],
      ['glue:BatchDeletePartition', table(processedDb, baseBatchesTableName(fact))],
      ['glue:BatchDeletePartition', table(processedDb, batchesTable)],
      // The warehouse table replaced (load/replace-table.ts), through the warehouse secret.
      ['secretsmanager:GetSecretValue', ['${var.warehouse_secret_arn}']],
    ];
  };

  it.each(facts)('allows every call the backfill of %s makes (with the read-only policy)', (fact) => {
    const denied = callsOf(fact).flatMap(([action, resources]) => resources.filter((r) => !allows(granted, action, r)).map((r) => `${action} ${r}`));
    expect(denied).toEqual([]);
  });

  it('grants nothing the read-only policy does not need beyond those calls', () => {
    const calls = facts.flatMap(callsOf);
    // Every statement of the backfill policy is used by some call, on every resource it names.
    for (const st of backfillPolicy) {
      for (const action of st.actions as string[]) {
        const used = calls.filter(([a]) => a === action).flatMap(([, rs]) => rs);
        for (const r of st.resources as string[]) expect({ sid: st.sid, action, resource: r, used: used.some((u) => glob(r).test(u)) }).toEqual({ sid: st.sid, action, resource: r, used: true });
      }
    }
  });

  it('writes only the facts\' rebuilt partitions, their progress and version, the transform lease and the facts\' Glue tables', () => {
    const writes: [string, string][] = [
      ['s3:PutObject', object(ingestion, `raw/sales_order/dt=2026-11-25/${batch}.ndjson.gz`)],
      ['s3:PutObject', object(ingestion, extractManifestKey(3))],
      ['s3:PutObject', object(processed, transformManifestKey(3))],
      ['s3:PutObject', object(processed, `${factBatchPrefix('fact_sales_order', batch)}part-0.parquet`)],
      ['s3:DeleteObject', object(processed, `${factBatchPrefix('fact_sales_order', batch)}part-0.parquet`)],
      ['s3:PutObject', object(processed, `star/dim_staff/${batch}/part-0.parquet`)],
      ['s3:DeleteObject', object(processed, `current/sales_order/${batch}/part-0.parquet`)],
      ['s3:PutObject', object(processed, modelVersionKey('dim_staff'))],
      ['s3:PutObject', object(processed, leaseKey('load', 3, 1))],
      ['s3:DeleteObject', object(processed, backfillKey('fact_sales_order', hash))],
      ['glue:UpdateTable', table(processedDb, 'dim_staff')[2]],
      ['glue:DeleteTable', table(processedDb, 'fact_sales_order_current')[2]],
      ['glue:CreateTable', table(processedDb, 'fact_sales_order_x')[2]],
      ['glue:BatchDeletePartition', table(processedDb, 'dim_staff_versions')[2]],
      ['glue:UpdateTable', table(processedDb, baseBatchesTableName('fact_sales_order'))[2]],
      ['glue:CreateTable', table(processedDb, monthsTableName('fact_sales_order', batch))[2]],
      ['glue:BatchDeletePartition', table(processedDb, 'fact_sales_order')[2]],
      ['glue:UpdateTable', table(rawDb, 'raw_sales_order')[2]],
      ['glue:CreateTable', table(rawDb, 'fact_sales_order_batches')[2]],
      ['lambda:InvokeFunction', '*'],
    ];
    expect(writes.filter(([action, resource]) => allows(granted, action, resource))).toEqual([]);
    expect(backfillPolicy.flatMap((st) => st.resources as string[]).filter((r) => r === '*' || r.startsWith(ingestion))).toEqual([]);
  });

  it('covers every SDK call of the code it runs: each command is either a call above or off the backfill path', () => {
    const read = (file: string) => readFileSync(path.join(__dirname, '..', '..', file), 'utf8');
    const commands = (file: string, sdk: string) => {
      const m = new RegExp(`import \\{([^}]*)\\} from '@aws-sdk/client-${sdk}'`).exec(read(file));
      return (m?.[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s.endsWith('Command')).map((s) => `${sdk === 'secrets-manager' ? 'secretsmanager' : sdk}:${s.slice(0, -'Command'.length)}`);
    };
    // The SDK command → IAM action where they differ.
    const action: Record<string, string> = { 's3:DeleteObjects': 's3:DeleteObject', 's3:HeadObject': 's3:GetObject', 's3:ListObjectsV2': 's3:ListBucket' };
    // Commands these files send, but never for a backfill.
    const offPath: Record<string, string> = {
      's3:PutObjectTagging': 'ObjectStore.expire: a fact compaction marks what it replaced; a backfill deletes and expires nothing',
      'glue:CreatePartition': 'GlueCatalog.addPartition: a transform publishing a batch',
      'athena:StopQueryExecution': 'a query over its time (allowed by the read-only policy)',
    };
    const sent = [
      ...commands('functions/aws/s3-object-store.ts', 's3'),
      ...commands('functions/aws/glue-catalog.ts', 'glue'),
      ...commands('functions/engines/athena/engine.ts', 'glue'),
      ...commands('functions/engines/athena/client.ts', 'athena'),
      ...commands('functions/aws/secrets-locator.ts', 'secrets-manager'),
    ];
    expect(sent.length).toBeGreaterThan(15);
    const called = new Set(facts.flatMap(callsOf).map(([a]) => a));
    const unaccounted = [...new Set(sent)].filter((c) => !called.has(action[c] ?? c) && !offPath[c]);
    expect(unaccounted).toEqual([]);
    // And backfill.ts reaches the catalog only through partitions and replacePartitions.
    expect([...new Set([...read('functions/core/transform/backfill.ts').matchAll(/ctx\.catalog\.(\w+)/g)].map((m) => m[1]))].sort()).toEqual(['partitions', 'replacePartitions']);
    expect(read('functions/core/transform/backfill.ts')).not.toMatch(/\.expire\(/);
  });

  it('is output beside the other two', () => {
    const outputs = s.tf.output as Record<string, { value: string }>;
    const arn = (suffix: string) => s.ref('aws_iam_policy', s.idOf('aws_iam_policy', (p) => p.name === `\${var.name_prefix}-${suffix}`), 'arn');
    expect(outputs[STACK_OUTPUTS.operatorBackfillPolicyArn].value).toBe(arn('operator-backfill'));
    expect(outputs[STACK_OUTPUTS.operatorPolicyArn].value).toBe(arn('operator'));
    expect(BACKFILL_AWS_NEEDS).toContain(STACK_OUTPUTS.operatorBackfillPolicyArn);
  });
});
