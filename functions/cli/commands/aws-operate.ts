import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SOURCE_TABLE_NAMES, type SourceTableName } from '../../core/contract/source-tables';
import { STACK_OUTPUTS } from '../../core/contract/stack-contract';
import { STAR_TABLES } from '../../core/contract/star-tables';
import { backfill } from '../../core/transform/backfill';
import { readDocsModel } from '../../core/docs/docs-model';
import { renderDocsSite } from '../../core/docs/docs-site';
import { readPipelineStatus, type PipelineStatus } from '../../core/operate/pipeline-status';
import type { Log } from '../../core/ports/log';
import type { RelationBindings } from '../../core/ports/query-engine';
import { compileNextBatch } from '../../core/transform/compile';
import { lakeBindings } from '../../core/transform/lake-bindings';
import { AthenaRenderer } from '../../engines/athena/engine';
import { formatVerifyReport, verify } from '../../core/verify/verify';
import { Duration, UsageError } from '../cli-options';
import { explained, openAwsPipeline, OperatorFailure, operatorMessage, parseAwsCommand, readAlarms, type AlarmState, type AwsPipeline } from '../aws-target';
import { explainAwsError } from '../../aws/operator-errors';
import { textTable } from '../text-table';
import { checkCompileTables, writeCompiled } from './compile';
import { docsHistoryMs } from './docs';
import { renderStatus, SLA_BREACHED_EXIT } from './status';

/**
 * The `totes` commands against the deployed pipeline (`--aws`; aws-target.ts builds it): the same
 * core as the local commands — readPipelineStatus, verify, the docs model — over the S3 stores, the
 * Glue catalog, Athena and the databases behind their secrets. Read-only: nothing in the lake, the
 * catalog (but the Athena engine's own temporary tables) or the databases changes.
 *
 * `totes run --aws` is refused: the stack's schedule owns runs. `totes backfill --aws` is the one
 * command that writes: it rebuilds a fact in the lake through Athena and publishes it by switching
 * the fact's Glue view in one UpdateTable (aws/glue-catalog.ts replacePartitions), then replaces the
 * warehouse table, as locally (core/transform/backfill.ts).
 */

type MakeLog = (json: boolean, verbose: boolean) => Log;

/** The event the extract takes from its schedule (aws/lambda-events.ts ScheduleEvent), for a manual invocation. */
const RUN_NOW_EVENT = '{"detail-type":"Scheduled Event","source":"aws.events","time":"<now, e.g. 2026-01-01T00:00:00Z>"}';

/**
 * What `totes backfill --aws` needs beyond the read-only operator policy: it writes the lake
 * (star/, backfills/, models/, leases/ in the processed bucket), the processed Glue database (the
 * fact's new batches table and its view) and the warehouse; the stack's backfill policy
 * (cdktf/access/operator-policy.ts operatorBackfillStatements) grants exactly that. Said when AWS denies a call.
 */
export const BACKFILL_AWS_NEEDS =
  'totes backfill --aws writes the processed bucket (star/, backfills/, models/, leases/), the processed Glue database (a batches table, the fact\'s view) and the warehouse: ' +
  `attach the policy named by the ${STACK_OUTPUTS.operatorBackfillPolicyArn} output beside the read-only ${STACK_OUTPUTS.operatorPolicyArn} one; what it did is kept in backfills/<fact>/<hash>.json, so run it again to resume`;

export async function awsCommand(name: string, argv: string[], makeLog: MakeLog): Promise<number> {
  switch (name) {
    case 'status':
      return awsStatus(argv, makeLog);
    case 'verify':
      return awsVerify(argv, makeLog);
    case 'query':
      return awsQuery(argv, makeLog);
    case 'docs':
      return awsDocs(argv, makeLog);
    case 'compile':
      return awsCompile(argv, makeLog);
    case 'run':
      parseAwsCommand(argv, { every: { type: 'string' }, repair: { type: 'boolean' } });
      throw new Error(
        'totes run --aws is refused: the deployed stack runs the pipeline on its schedule (<name_prefix>-extract-schedule), and each stage starts the next. ' +
          `To start a batch now, invoke the extract (output extract_function) asynchronously with a schedule event: aws lambda invoke --function-name <extract_function> --invocation-type Event --cli-binary-format raw-in-base64-out --payload '${RUN_NOW_EVENT}' /dev/null (needs the operator_run_policy_arn policy)`,
      );
    case 'backfill':
      return awsBackfill(argv, makeLog);
    default:
      throw new UsageError(`totes ${name} works on the local pipeline only; drop --aws (or unset TOTES_TARGET)`);
  }
}

/** Opens the deployment, runs `work`, closes it; AWS failures become their one-line explanation. */
async function withAws<T>(values: Record<string, string | boolean | undefined>, log: Log, work: (aws: AwsPipeline) => Promise<T>): Promise<T> {
  const aws = await openAwsPipeline(values, log);
  try {
    return await work(aws);
  } catch (err) {
    throw explained(err, aws.target);
  } finally {
    await aws.close();
  }
}

function slaOf(values: Record<string, string | boolean | undefined>): number {
  const sla = Duration.safeParse(values.sla ?? '30m');
  if (!sla.success) throw new UsageError(`--sla must be a duration such as 30m or 1h, got "${String(values.sla)}"`);
  return sla.data / 1000;
}

/** What `totes status --aws --json` prints: the local status, plus where it came from and the stack's alarms. */
export interface AwsStatus extends PipelineStatus {
  target: { kind: 'aws'; origin: string; region: string; stackVersion: number | null; ingestionBucket: string; processedBucket: string };
  /** The stack's CloudWatch alarms; null when they could not be read (see problems). */
  alarms: AlarmState[] | null;
}

async function awsStatus(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, json, verbose } = parseAwsCommand(argv, { sla: { type: 'string' }, runs: { type: 'string' }, 'skip-source': { type: 'boolean' } });
  const log = makeLog(json, verbose);
  const slaSeconds = slaOf(values);
  const runs = Number(values.runs ?? 10);
  if (!Number.isInteger(runs) || runs < 0) throw new UsageError(`--runs must be a whole number, got "${String(values.runs)}"`);
  return withAws(values, log, async (aws) => {
    const { ctx, target } = aws;
    // A database that cannot be reached is a problem line, as locally; its secret's failure is told as the operator's one line.
    const url = (locator: typeof ctx.source) => () => locator.url().catch((err: unknown) => Promise.reject(new Error(operatorMessage(err, target))));
    const status = await readPipelineStatus({
      ingestion: ctx.ingestion,
      processed: ctx.processed,
      sourceUrl: values['skip-source'] ? undefined : url(ctx.source),
      warehouseUrl: url(ctx.warehouse),
      warehouseSchema: ctx.warehouseSchema,
      now: new Date(),
      slaSeconds,
      runs,
      sqlRoot: ctx.sqlRoot,
    });
    let alarms: AlarmState[] | null = null;
    if (target.namePrefix) {
      try {
        alarms = await readAlarms(aws.clients.cloudwatch, target.namePrefix);
        for (const a of alarms.filter((x) => x.state === 'ALARM')) status.problems.push(`Alarm ${a.name} is in ALARM${a.since ? ` since ${a.since}` : ''}: ${a.reason ?? ''}`);
      } catch (err) {
        status.problems.push(`Could not read the alarms: ${operatorMessage(err, target)}`);
      }
    } else {
      status.problems.push(`The ${target.origin} do not name the stack (name_prefix), so its alarms are not shown`);
    }
    const out: AwsStatus = {
      ...status,
      target: { kind: 'aws', origin: target.origin, region: target.region, stackVersion: target.version, ingestionBucket: target.config.ingestionBucket!, processedBucket: target.config.processedBucket! },
      alarms,
    };
    if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else process.stdout.write(renderAwsStatus(out));
    if (status.sla.breached) log.warn(`Freshness SLA breached: ${status.sla.reason}`);
    return status.sla.breached ? SLA_BREACHED_EXIT : 0;
  });
}

export function renderAwsStatus(status: AwsStatus): string {
  const where = `stack in ${status.target.region} (s3://${status.target.ingestionBucket}, s3://${status.target.processedBucket})`;
  const text = renderStatus(status, where);
  const alarms = status.alarms
    ? status.alarms.length
      ? textTable(status.alarms.map((a) => ({ alarm: a.name, state: a.state, since: a.since ?? '∅' })))
      : '(no alarms found)'
    : '(not read: see problems)';
  return `${text}\n== Alarms ==\n${alarms}\n`;
}

async function awsBackfill(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, positionals, json, verbose } = parseAwsCommand(argv, { 'lake-only': { type: 'boolean' } });
  const log = makeLog(json, verbose);
  if (!positionals.length) throw new UsageError('Name the star table(s) to backfill, e.g. `totes backfill fact_sales_order --aws`');
  const unknown = positionals.filter((t) => !STAR_TABLES.some((s) => s.name === t));
  if (unknown.length) throw new UsageError(`Not a star table: ${unknown.join(', ')} (the star tables are ${STAR_TABLES.map((t) => t.name).join(', ')})`);
  return withAws(values, log, async ({ ctx, target }) => {
    let results;
    try {
      results = await backfill(ctx, positionals, { warehouse: values['lake-only'] !== true });
    } catch (err) {
      // A denial names the backfill policy, not the read-only one the other commands need.
      const denied = explainAwsError(err, target.operatorBackfillPolicyArn ?? `output ${STACK_OUTPUTS.operatorBackfillPolicyArn}`);
      if (denied) throw new OperatorFailure(`${denied}. ${BACKFILL_AWS_NEEDS}`, { cause: err });
      if (/AccessDenied|not authorized/i.test(`${(err as Error).name} ${(err as Error).message}`)) throw new Error(`${(err as Error).message}. ${BACKFILL_AWS_NEEDS}`, { cause: err });
      throw err;
    }
    if (json) process.stdout.write(`${JSON.stringify(results.map(({ progress, ...r }) => ({ ...r, step: progress?.step ?? null })), null, 2)}\n`);
    else for (const r of results) process.stdout.write(`${r.table}: ${r.message}\n`);
    return 0;
  });
}

async function awsVerify(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, json, verbose } = parseAwsCommand(argv, {});
  const log = makeLog(json, verbose);
  return withAws(values, log, async ({ ctx }) => {
    const report = await verify(ctx);
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
    return report.ok ? 0 : 1;
  });
}

/** The raw_<t> and current_<t> relations a query names: the only ones bound (star tables and views are the processed database's own). */
export async function queryBindings(sql: string, ctx: AwsPipeline['ctx']): Promise<RelationBindings | undefined> {
  const text = sql.replace(/--[^\n]*/g, ' ');
  const named = (prefix: string) => SOURCE_TABLE_NAMES.filter((t) => new RegExp(`\\b${prefix}${t}\\b`, 'i').test(text));
  const raw = named('raw_');
  const current = named('current_');
  if (!raw.length && !current.length) return undefined;
  const all = await lakeBindings(ctx);
  const pick = <V>(from: Partial<Record<SourceTableName, V>> | undefined, names: SourceTableName[]) =>
    Object.fromEntries(names.flatMap((t) => (from?.[t] !== undefined ? [[t, from[t]]] : []))) as Partial<Record<SourceTableName, V>>;
  return { batch: {}, star: {}, raw: pick(all.raw, raw), current: pick(all.current, current) };
}

async function awsQuery(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, positionals, json, verbose } = parseAwsCommand(argv, {});
  const sql = positionals.join(' ').trim();
  if (!sql) throw new UsageError('totes query needs a SQL statement, e.g. totes query --aws "SELECT count(*) FROM fact_sales_order"');
  const log = makeLog(json, verbose);
  return withAws(values, log, async (aws) => {
    const rows = await aws.ctx.engine.query(sql, await queryBindings(sql, aws.ctx));
    const scanned = aws.bytesScanned();
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
      log.info(`Athena scanned ${scanned} bytes`, { bytesScanned: scanned, workgroup: aws.target.config.athenaWorkgroup });
    } else {
      process.stdout.write(`${textTable(rows)}\n(${rows.length} row${rows.length === 1 ? '' : 's'}; Athena scanned ${formatBytes(scanned)} in workgroup ${aws.target.config.athenaWorkgroup})\n`);
    }
    return 0;
  });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]} (${n.toLocaleString('en-GB')} bytes)`;
}

async function awsDocs(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, json, verbose } = parseAwsCommand(argv, { out: { type: 'string' }, sla: { type: 'string' }, history: { type: 'string' } });
  const log = makeLog(json, verbose);
  const slaSeconds = slaOf(values);
  const historyMs = docsHistoryMs(values.history);
  if (typeof values.out !== 'string' || !values.out) throw new UsageError('totes docs --aws needs --out DIR: where to write the docs of the deployed lake');
  const out = path.resolve(values.out);
  return withAws(values, log, async ({ ctx }) => {
    const model = await readDocsModel({ ingestion: ctx.ingestion, processed: ctx.processed, sqlRoot: ctx.sqlRoot, now: new Date(), slaSeconds, historyMs });
    const pages = renderDocsSite(model);
    // Written only once everything is read: a failure above leaves no half site behind.
    await fs.mkdir(out, { recursive: true });
    for (const [name, html] of Object.entries(pages)) await fs.writeFile(path.join(out, name), html);
    for (const problem of model.problems) log.warn(problem);
    log.info(`Data docs of the deployed lake written: ${Object.keys(pages).length} pages, ${model.lake.batches} batches (${model.batches.length} batches and ${model.runs.length} runs since ${model.historySince})`, { out });
    process.stdout.write(`${path.join(out, 'index.html')}\n`);
    return 0;
  });
}

/** `totes compile --aws`: the deployed lake's next batch as Athena gets it (the stack's Glue databases, its S3 locations); reads S3 only. */
async function awsCompile(argv: string[], makeLog: MakeLog): Promise<number> {
  const { values, positionals, json, verbose } = parseAwsCommand(argv, {});
  const log = makeLog(json, verbose);
  checkCompileTables(positionals);
  return withAws(values, log, async ({ ctx, target }) => {
    const { rawDatabase, processedDatabase } = target.config;
    if (!rawDatabase || !processedDatabase) throw new Error(`The ${target.origin} name no Glue databases (glue_raw_database, glue_processed_database): compile cannot name the tables Athena reads`);
    const batch = await compileNextBatch(ctx, new AthenaRenderer({ namespace: { rawDatabase, processedDatabase }, processed: ctx.processed }));
    writeCompiled(batch, positionals, json);
    return 0;
  });
}
