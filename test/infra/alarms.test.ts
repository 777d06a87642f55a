import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { METRICS } from '../../functions/core/contract/runtime-contract';
import { SOURCE_TABLE_NAMES } from '../../functions/core/contract/source-tables';
import type { ExtractResult } from '../../functions/core/extract/extract';
import { writeExtractHeartbeat } from '../../functions/core/lake/extract-heartbeat';
import { extractManifestKey } from '../../functions/core/lake/lake-layout';
import { ExtractManifest } from '../../functions/core/lake/manifests';
import type { PipelineContext } from '../../functions/core/pipeline-context';
import type { Log } from '../../functions/core/ports/log';
import type { QueryEngine } from '../../functions/core/ports/query-engine';
import { createHandler as createExtract } from '../../functions/extract/handler';
import { createHandler as createLoad } from '../../functions/load/handler';
import type { Catalog } from '../../functions/core/ports/catalog';
import { openFolderPipeline, unusedPort } from '../../functions/local/folder-pipeline';
import { createHandler as createTransform } from '../../functions/transform/handler';
import { Block, synthesizeStack } from './synthesized-stack';

/**
 * The stack's alarms judged the way CloudWatch judges them (period, statistic, comparison,
 * M of N datapoints, missing data) over the metrics a deployed pipeline emits, hour by hour:
 *  - a healthy pipeline over a quiet source (totesys unchanged all night) fires none of them;
 *  - schedules that stop fire the "no successful extract" alarm, and "freshness unmeasured";
 *  - a batch stuck while the source stays quiet fires the freshness alarm past its SLA.
 * The custom metrics are those the real handlers emit on each tick (run here over folder stores,
 * with the core stages stood in); the Lambda and SQS metrics are modelled: Errors 0 per successful
 * invocation, an empty DLQ reporting 0.
 */

const s = synthesizeStack();
const alarms = Object.values(s.resources('aws_cloudwatch_metric_alarm'));
const alarm = (suffix: string): Block => {
  const found = alarms.filter((a) => a.alarm_name === `\${var.name_prefix}-${suffix}`);
  if (found.length !== 1) throw new Error(`No single alarm ${suffix}`);
  return found[0];
};
const STAGES = ['extract', 'transform', 'load'] as const;
type Stage = (typeof STAGES)[number];
const fnId = (stage: Stage) => s.idOf('aws_lambda_function', (f) => f.function_name === `\${var.name_prefix}-${stage}`);
const functionName = (stage: Stage) => s.ref('aws_lambda_function', fnId(stage), 'function_name');
const dlqName = (stage: Stage) => s.ref('aws_sqs_queue', /aws_sqs_queue\.([^.]+)\.arn/.exec(s.resources('aws_lambda_function')[fnId(stage)].dead_letter_config.target_arn)![1], 'name');

interface Point { key: string; t: number; value: number }
const metricKey = (namespace: string, name: string, dimensions: Record<string, string> = {}) =>
  `${namespace}|${name}|${JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : 1)))}`;

const T0 = Date.parse('2026-11-28T00:00:00Z') / 1000; // a Saturday night: totesys is quiet
const TICK = 300;
/** Scheduler is punctual to within a minute; some periods get no tick of a stage, some two. */
const jitter = (k: number) => ((k * 37) % 100) - 50;
const text = (t: number) => new Date(t * 1000).toISOString().replace('T', ' ').replace('Z', '');
const batchIdOf = (seq: number) => `${String(seq).padStart(10, '0')}-20261127T230000Z-abcd`;

function manifest(seq: number, bound: string): ExtractManifest {
  return ExtractManifest.parse({
    kind: 'extract', version: 1, batchId: batchIdOf(seq), seq, previousBatchId: seq > 1 ? batchIdOf(seq - 1) : null,
    startedAt: '2026-11-27T23:00:00.000Z', finishedAt: '2026-11-27T23:00:01.000Z', snapshotAt: bound,
    tables: Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, { files: [], rows: 0, window: { from: null, upperBound: bound }, cursor: null, maxLastUpdated: null }])),
  });
}

interface World {
  minutes: number;
  /** Minute from which the extract's schedule stops (default: never). */
  extractStopsAt?: number;
  /** Minute from which the transform's and load's schedules stop (default: never). */
  stagesStopAt?: number;
  /** Minute at which a batch is published that no transform will take (a lease held, a quarantine). */
  stuckAt?: number;
}

/** Runs the world's ticks through the real handlers; returns every datapoint CloudWatch would hold. */
async function simulate(world: World): Promise<Point[]> {
  const points: Point[] = [];
  const root = mkdtempSync(path.join(tmpdir(), 'totes-alarms-'));
  let clock = T0;
  const log: Log = {
    info() {}, warn() {}, error() {}, progress() {},
    metric: (name, value, _unit, dimensions) => void points.push({ key: metricKey(METRICS.namespace, name, { service: METRICS.service, ...dimensions }), t: clock, value }),
  };
  const { ctx } = await openFolderPipeline({
    lake: root, log, now: () => new Date(clock * 1000), sqlRoot: root, engine: unusedPort<QueryEngine>('engine', { name: 'athena' }), catalog: unusedPort<Catalog>('catalog'),
  });
  const { ingestion } = ctx;
  const env = { TOTES_INGESTION_BUCKET: 'totes-ingestion', TOTES_PROCESSED_BUCKET: 'totes-processed' };
  const deps = { env, log, context: () => ctx };

  // Batch 1 was extracted and loaded before the night began; the source has been quiet since.
  await ingestion.put(extractManifestKey(1), JSON.stringify(manifest(1, text(T0 - 600))));
  let newestBatch = 1;
  const loadedSeq = 1;
  const tickOf = (t: number) => ({ version: '0', id: `tick-${t}`, 'detail-type': 'Scheduled Event', source: 'aws.scheduler', time: new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), resources: [], detail: {} });
  const quietExtract = async (c: PipelineContext): Promise<ExtractResult> => {
    const bound = text(clock - 1);
    if (world.stuckAt !== undefined && newestBatch === 1 && clock >= T0 + world.stuckAt * 60) {
      newestBatch = 2;
      await c.ingestion.put(extractManifestKey(2), JSON.stringify(manifest(2, bound)));
      return { published: true, batchId: batchIdOf(2), seq: 2, rows: { sales_order: 1 }, bytes: 1, elapsedMs: 1, warnings: [] };
    }
    // What the core extract does when it finds nothing new: no batch, a heartbeat after the newest one.
    await writeExtractHeartbeat(c.processed, { afterSeq: newestBatch, afterBatchId: batchIdOf(newestBatch), snapshotAt: bound, upperBound: bound, at: new Date(clock * 1000).toISOString() });
    return { published: false, reason: 'nothing-new', batchId: batchIdOf(newestBatch + 1), seq: newestBatch + 1, rows: {}, bytes: 0, elapsedMs: 1, warnings: [] };
  };
  const handlers = {
    extract: createExtract({ ...deps, extract: quietExtract }),
    transform: createTransform({ ...deps, transformPending: async () => [] }), // batch 2, if any, is held by another run's lease
    load: createLoad({ ...deps, loadPending: async () => [], newestLoaded: async () => ({ seq: loadedSeq, batchId: batchIdOf(loadedSeq), loadedAt: null }) }),
  };
  const invoke = async (stage: Stage, at: number) => {
    clock = at;
    await handlers[stage](tickOf(at));
    points.push({ key: metricKey('AWS/Lambda', 'Errors', { FunctionName: functionName(stage) }), t: at, value: 0 });
  };

  for (let k = 0; k * TICK < world.minutes * 60; k++) {
    const t = T0 + k * TICK + jitter(k);
    const minute = (t - T0) / 60;
    if (world.extractStopsAt === undefined || minute < world.extractStopsAt) await invoke('extract', t);
    if (world.stagesStopAt === undefined || minute < world.stagesStopAt) {
      await invoke('transform', t + 2);
      await invoke('load', t + 3);
    }
    for (const stage of STAGES) points.push({ key: metricKey('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: dlqName(stage) }), t: T0 + k * TICK, value: 0 });
  }
  return points;
}

const STATISTICS: Record<string, (v: number[]) => number> = {
  Sum: (v) => v.reduce((a, b) => a + b, 0),
  Maximum: (v) => Math.max(...v),
  Minimum: (v) => Math.min(...v),
  SampleCount: (v) => v.length,
  Average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
};
const COMPARISONS: Record<string, (v: number, threshold: number) => boolean> = {
  GreaterThanThreshold: (v, x) => v > x,
  GreaterThanOrEqualToThreshold: (v, x) => v >= x,
  LessThanThreshold: (v, x) => v < x,
  LessThanOrEqualToThreshold: (v, x) => v <= x,
};

/** The alarm's state at `at` (a period boundary): ALARM when M of its last N periods breach. */
function stateAt(a: Block, points: Point[], at: number): 'ALARM' | 'OK' {
  const key = metricKey(a.namespace, a.metric_name, a.dimensions);
  const statistic = STATISTICS[a.statistic];
  const compare = COMPARISONS[a.comparison_operator];
  if (!statistic || !compare) throw new Error(`The simulation does not know ${a.statistic} / ${a.comparison_operator} (alarm ${a.alarm_name})`);
  let breaching = 0;
  for (let i = 0; i < a.evaluation_periods; i++) {
    const end = at - i * a.period;
    const values = points.filter((p) => p.key === key && p.t >= end - a.period && p.t < end).map((p) => p.value);
    if (!values.length) breaching += a.treat_missing_data === 'breaching' ? 1 : 0;
    else breaching += compare(statistic(values), a.threshold) ? 1 : 0;
  }
  return breaching >= (a.datapoints_to_alarm ?? a.evaluation_periods) ? 'ALARM' : 'OK';
}

/** Names of the alarms in ALARM at minute `minute` of the world. */
const firing = (points: Point[], minute: number) =>
  alarms.filter((a) => stateAt(a, points, T0 + minute * 60) === 'ALARM').map((a) => String(a.alarm_name).replace('${var.name_prefix}-', '')).sort();

it('models every metric an alarm watches (the custom ones are emitted by the handlers above)', () => {
  const modelled = new Set<string>([METRICS.extractSucceeded, METRICS.freshness, METRICS.queryFailed, 'Errors', 'Throttles', 'ApproximateNumberOfMessagesVisible']);
  expect(alarms.filter((a) => !modelled.has(a.metric_name)).map((a) => a.alarm_name)).toEqual([]);
});

it('a healthy pipeline over a quiet source fires no alarm, hour after hour', async () => {
  const points = await simulate({ minutes: 4 * 60 });
  for (let minute = 45; minute <= 4 * 60; minute += 5) expect({ minute, firing: firing(points, minute) }).toEqual({ minute, firing: [] });
  // The load kept reporting a warehouse within one tick of the source all night.
  const freshness = points.filter((p) => p.key === metricKey(METRICS.namespace, METRICS.freshness, { service: METRICS.service }));
  expect(freshness.length).toBeGreaterThanOrEqual(47);
  expect(Math.max(...freshness.map((p) => p.value))).toBeLessThan(2 * TICK);
});

it('keeps an alarm for a stopped schedule: no successful extract, then freshness unmeasured', async () => {
  const points = await simulate({ minutes: 3 * 60, extractStopsAt: 60, stagesStopAt: 60 });
  expect(firing(points, 60)).toEqual([]);
  expect(firing(points, 80)).toEqual(['no-successful-extract']);
  expect(firing(points, 100)).toEqual(['freshness-unmeasured', 'no-successful-extract']);
  expect(alarm('no-successful-extract').treat_missing_data).toBe('breaching');
});

it('fires the freshness alarm once the warehouse is past its SLA, whatever the source does', async () => {
  // Only the extract's schedule stops: the load still measures, and the warehouse ages.
  const stopped = await simulate({ minutes: 3 * 60, extractStopsAt: 60 });
  expect(firing(stopped, 80)).toEqual(['no-successful-extract']);
  expect(firing(stopped, 100)).toEqual(['freshness', 'no-successful-extract']);
  // A batch stuck (never transformed) while the source stays quiet and every tick succeeds.
  const stuck = await simulate({ minutes: 3 * 60, stuckAt: 60 });
  expect(firing(stuck, 85)).toEqual([]);
  expect(firing(stuck, 100)).toEqual(['freshness']);
  expect(alarm('freshness')).toMatchObject({ threshold: 1800, comparison_operator: 'GreaterThanThreshold' });
});
