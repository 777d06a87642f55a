import { createHash, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The events that start the three functions, built as AWS delivers them, and the check that an
 * event matches a rule's event pattern as EventBridge decides it.
 *
 * Why a matcher of our own: moto 5.2.5 answers EventBridge `TestEventPattern` with an empty 200
 * (`responses.py: def test_event_pattern(self): pass`), so it cannot be asked. Its rule engine
 * (`moto/events/models.py` `EventPattern`) does match the events it is sent with PutEvents, and
 * {@link matchOnMoto} asks it that way, so the matcher here can be cross-checked against moto
 * for the operators both implement faithfully. This matcher follows EventBridge's documented
 * semantics ("Event patterns" and "Content filtering" in the EventBridge user guide).
 */

// ---------------------------------------------------------------------------------------------
// Events

/** An EventBridge event envelope (what a rule target receives). */
export interface EventBridgeEvent<D = unknown> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

export interface S3ObjectCreatedDetail {
  version: '0';
  bucket: { name: string };
  object: { key: string; size: number; etag: string; 'version-id'?: string; sequencer: string };
  'request-id': string;
  requester: string;
  'source-ip-address': string;
  reason: 'PutObject' | 'POST Object' | 'CopyObject' | 'CompleteMultipartUpload';
}

export interface S3ObjectCreatedInput {
  bucket: string;
  key: string;
  region: string;
  account: string;
  /** The object's bytes: size and etag come from them unless given. */
  body?: Uint8Array | string;
  size?: number;
  etag?: string;
  /** Present when the bucket has versioning (the ingestion bucket has Object Lock, hence versioning). */
  versionId?: string;
  time?: Date;
  reason?: S3ObjectCreatedDetail['reason'];
  /** The account of the principal that wrote the object (the bucket owner's by default). */
  requester?: string;
  id?: string;
  sequencer?: string;
}

/**
 * An S3 "Object Created" event as S3 sends it to EventBridge when the bucket has EventBridge
 * notifications on (the S3 user guide's "EventBridge event message structure"). The key is as
 * written (S3's direct notifications to Lambda/SQS/SNS URL-encode it; the EventBridge examples do
 * not, and keys of this lake have no character that encoding would change).
 */
export function s3ObjectCreatedEvent(input: S3ObjectCreatedInput): EventBridgeEvent<S3ObjectCreatedDetail> {
  const body = typeof input.body === 'string' ? Buffer.from(input.body) : input.body;
  const time = input.time ?? new Date();
  const object: S3ObjectCreatedDetail['object'] = {
    key: input.key,
    size: input.size ?? body?.length ?? 0,
    etag: input.etag?.replace(/"/g, '') ?? createHash('md5').update(body ?? new Uint8Array()).digest('hex'),
    ...(input.versionId ? { 'version-id': input.versionId } : {}),
    sequencer: input.sequencer ?? (BigInt(time.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16).toUpperCase().padStart(18, '0'),
  };
  return {
    version: '0',
    id: input.id ?? randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: input.account,
    time: isoSeconds(time),
    region: input.region,
    resources: [`arn:aws:s3:::${input.bucket}`],
    detail: {
      version: '0',
      bucket: { name: input.bucket },
      object,
      'request-id': createHash('sha1').update(`${input.bucket}/${input.key}@${time.toISOString()}`).digest('hex').slice(0, 16).toUpperCase(),
      requester: input.requester ?? input.account,
      'source-ip-address': '10.0.0.1',
      reason: input.reason ?? 'PutObject',
    },
  };
}

/** Context attributes EventBridge Scheduler substitutes in a templated target's `input`. */
export interface SchedulerInvocation {
  scheduleArn: string;
  /** The scheduled time (Scheduler sends it to the second, UTC). */
  time: Date;
  executionId?: string;
  attemptNumber?: number;
}

/**
 * The payload EventBridge Scheduler invokes a templated Lambda target with: the target's `input`
 * JSON, with the context attributes `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
 * `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` filled in. Scheduler wraps
 * nothing around it: unlike an EventBridge schedule rule there is no `Scheduled Event` envelope
 * unless the input writes one. Without an input Scheduler sends an undocumented default
 * notification, which this refuses to guess.
 */
export function schedulerPayload(input: string | undefined, invocation: SchedulerInvocation): unknown {
  if (input === undefined) throw new Error('The schedule target has no input: EventBridge Scheduler would send its (undocumented) default notification; set the target input');
  const attributes: Record<string, string> = {
    'aws.scheduler.schedule-arn': invocation.scheduleArn,
    'aws.scheduler.scheduled-time': isoSeconds(invocation.time),
    'aws.scheduler.execution-id': invocation.executionId ?? randomUUID(),
    'aws.scheduler.attempt-number': String(invocation.attemptNumber ?? 1),
  };
  const filled = input.replace(/<(aws\.scheduler\.[a-z-]+)>/g, (whole, name: string) => {
    const value = attributes[name];
    if (value === undefined) throw new Error(`Unknown EventBridge Scheduler context attribute ${whole} in the target input`);
    return value;
  });
  try {
    return JSON.parse(filled) as unknown;
  } catch {
    throw new Error(`The schedule target input is not JSON once its context attributes are filled in (a templated Lambda target needs JSON): ${filled.slice(0, 200)}`);
  }
}

/** The event an EventBridge *rule* with a schedule expression sends (not Scheduler's). */
export function scheduledRuleEvent(ruleArn: string, time: Date, region: string, account: string): EventBridgeEvent<Record<string, never>> {
  return { version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account, time: isoSeconds(time), region, resources: [ruleArn], detail: {} };
}

function isoSeconds(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------------------------
// Pattern matching

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Pattern = { [key: string]: Json };

const ABSENT = Symbol('absent');
type Leaf = null | boolean | number | string;

/** True when EventBridge would deliver `event` to a rule with `pattern`. */
export function matchesEventPattern(pattern: string | object, event: unknown): boolean {
  return explainEventPatternMatch(pattern, event).length === 0;
}

/**
 * Why `event` does not match `pattern`: one line per field that failed (empty when it matches).
 * The pattern is validated first (as PutRule does): a malformed one throws, never "matches".
 */
export function explainEventPatternMatch(pattern: string | object, event: unknown): string[] {
  const parsed = validateEventPattern(pattern);
  return matchObject(parsed, event as Json, '');
}

/** Parses and checks a pattern as EventBridge does when a rule is created; returns it parsed. */
export function validateEventPattern(pattern: string | object): Pattern {
  let parsed: unknown;
  try {
    parsed = typeof pattern === 'string' ? JSON.parse(pattern) : pattern;
  } catch {
    throw new Error('Event pattern is not valid JSON');
  }
  const check = (node: unknown, at: string): void => {
    if (!isObject(node)) throw new Error(`Event pattern${at ? ` at ${at}` : ''} must be a JSON object`);
    for (const [key, value] of Object.entries(node)) {
      const here = at ? `${at}.${key}` : key;
      if (key === '$or') {
        if (!Array.isArray(value) || value.length === 0) throw new Error(`Event pattern ${here} must be a non-empty array of patterns`);
        value.forEach((p, i) => check(p, `${here}[${i}]`));
      } else if (isObject(value)) check(value, here);
      else if (Array.isArray(value)) {
        if (value.length === 0) throw new Error(`Event pattern ${here}: empty arrays are not allowed`);
        value.forEach((f) => checkFilter(f, here));
      } else throw new Error(`Event pattern ${here} must be an object or an array`);
    }
  };
  check(parsed, '');
  return parsed as Pattern;
}

function checkFilter(filter: unknown, at: string): void {
  if (filter === null || ['string', 'number', 'boolean'].includes(typeof filter)) return;
  if (!isObject(filter)) throw new Error(`Event pattern ${at}: ${JSON.stringify(filter)} is not a value or a content filter`);
  const keys = Object.keys(filter);
  if (keys.length !== 1) throw new Error(`Event pattern ${at}: a content filter has exactly one operator, not ${keys.join(', ') || 'none'}`);
  const [op] = keys;
  const v = filter[op];
  const stringOrIgnoreCase = (x: unknown) => typeof x === 'string' || (isObject(x) && Object.keys(x).length === 1 && typeof x['equals-ignore-case'] === 'string');
  const bad = () => new Error(`Event pattern ${at}: invalid ${op} filter ${JSON.stringify(v)}`);
  switch (op) {
    case 'prefix':
    case 'suffix':
      if (!stringOrIgnoreCase(v)) throw bad();
      return;
    case 'equals-ignore-case':
      if (typeof v !== 'string') throw bad();
      return;
    case 'wildcard':
      if (typeof v !== 'string' || /\*\*/.test(v.replace(/\\[*\\]/g, ''))) throw bad();
      return;
    case 'exists':
      if (typeof v !== 'boolean') throw bad();
      return;
    case 'cidr':
      if (typeof v !== 'string' || !parseCidr(v)) throw bad();
      return;
    case 'numeric': {
      if (!Array.isArray(v) || v.length === 0 || v.length > 4 || v.length % 2 !== 0) throw bad();
      for (let i = 0; i < v.length; i += 2) if (!['<', '<=', '=', '>=', '>'].includes(v[i] as string) || typeof v[i + 1] !== 'number') throw bad();
      return;
    }
    case 'anything-but': {
      if (typeof v === 'string' || typeof v === 'number') return;
      if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number')) return;
      if (isObject(v) && Object.keys(v).length === 1) {
        const [inner] = Object.keys(v);
        const x = v[inner];
        const strings = typeof x === 'string' || (Array.isArray(x) && x.length > 0 && x.every((y) => typeof y === 'string'));
        if (['prefix', 'suffix', 'equals-ignore-case', 'wildcard'].includes(inner) && strings) return;
      }
      throw bad();
    }
    default:
      throw new Error(`Event pattern ${at}: unknown content filter ${op}`);
  }
}

function matchObject(pattern: Pattern, event: Json | undefined, at: string): string[] {
  const failures: string[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    if (key === '$or') {
      const alternatives = (value as Pattern[]).map((p) => matchObject(p, event, at));
      if (!alternatives.some((f) => f.length === 0)) failures.push(`${at || '(event)'}: no $or alternative matched (${alternatives.map((f) => f.join('; ')).join(' | ')})`);
      continue;
    }
    const here = at ? `${at}.${key}` : key;
    const field = isObject(event) && Object.prototype.hasOwnProperty.call(event, key) ? event[key] : undefined;
    if (Array.isArray(value)) {
      // A leaf: an array in the event matches when any element does; an object is not a leaf.
      // An empty array has no value, like an absent field.
      const elements = Array.isArray(field) ? field.filter((x): x is Leaf => !isObject(x) && !Array.isArray(x)) : [];
      const leaves: (Leaf | typeof ABSENT)[] = field === undefined || isObject(field) ? [ABSENT] : Array.isArray(field) ? (elements.length ? elements : [ABSENT]) : [field];
      const ok = value.some((filter) => leaves.some((leaf) => matchFilter(filter, leaf)));
      if (!ok) failures.push(`${here}: ${describeValue(field)} matches none of ${JSON.stringify(value)}`);
    } else {
      const nested = value as Pattern;
      if (Array.isArray(field) && field.some(isObject)) {
        // An array of objects matches when one element matches the whole nested pattern.
        const tries = field.filter(isObject).map((el) => matchObject(nested, el, `${here}[]`));
        if (!tries.some((f) => f.length === 0)) failures.push(...(tries[0] ?? [`${here}: no element matches`]));
      } else {
        failures.push(...matchObject(nested, isObject(field) ? field : undefined, here));
      }
    }
  }
  return failures;
}

function matchFilter(filter: Json, leaf: Leaf | typeof ABSENT): boolean {
  if (!isObject(filter)) return leaf !== ABSENT && equalLeaf(filter as Leaf, leaf);
  const [op] = Object.keys(filter);
  const v = filter[op];
  if (op === 'exists') return v === (leaf !== ABSENT);
  if (leaf === ABSENT) return false;
  switch (op) {
    case 'prefix':
      return typeof leaf === 'string' && (typeof v === 'string' ? leaf.startsWith(v) : leaf.toLowerCase().startsWith(String((v as Pattern)['equals-ignore-case']).toLowerCase()));
    case 'suffix':
      return typeof leaf === 'string' && (typeof v === 'string' ? leaf.endsWith(v) : leaf.toLowerCase().endsWith(String((v as Pattern)['equals-ignore-case']).toLowerCase()));
    case 'equals-ignore-case':
      return typeof leaf === 'string' && leaf.toLowerCase() === String(v).toLowerCase();
    case 'wildcard':
      return typeof leaf === 'string' && wildcardRegExp(v as string).test(leaf);
    case 'numeric': {
      if (typeof leaf !== 'number') return false;
      const terms = v as (string | number)[];
      for (let i = 0; i < terms.length; i += 2) {
        const n = terms[i + 1] as number;
        const ok = { '<': leaf < n, '<=': leaf <= n, '=': leaf === n, '>=': leaf >= n, '>': leaf > n }[terms[i] as string];
        if (!ok) return false;
      }
      return true;
    }
    case 'cidr':
      return typeof leaf === 'string' && inCidr(leaf, v as string);
    case 'anything-but': {
      if (typeof v === 'string' || typeof v === 'number') return !equalLeaf(v, leaf);
      if (Array.isArray(v)) return !v.some((x) => equalLeaf(x as Leaf, leaf));
      const [inner] = Object.keys(v as Pattern);
      const values = ([] as Json[]).concat((v as Pattern)[inner]) as string[];
      if (typeof leaf !== 'string') return true;
      const hit = values.some((x) =>
        inner === 'prefix' ? leaf.startsWith(x) : inner === 'suffix' ? leaf.endsWith(x) : inner === 'equals-ignore-case' ? leaf.toLowerCase() === x.toLowerCase() : wildcardRegExp(x).test(leaf),
      );
      return !hit;
    }
    default:
      return false;
  }
}

function equalLeaf(a: Leaf, b: Leaf | typeof ABSENT): boolean {
  if (b === ABSENT) return false;
  return typeof a === typeof b && a === b;
}

/** `*` matches any run of characters (none included); `\*` and `\\` are a literal star and backslash. */
function wildcardRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '\\')) source += `\\${pattern[++i]}`;
    else if (c === '*') source += '[\\s\\S]*';
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function parseCidr(cidr: string): { bytes: number[]; bits: number } | undefined {
  const [address, bitsText] = cidr.split('/');
  const version = isIP(address);
  const bits = Number(bitsText);
  if (!version || !Number.isInteger(bits) || bits < 0 || bits > (version === 4 ? 32 : 128)) return undefined;
  return { bytes: ipBytes(address), bits };
}

function ipBytes(address: string): number[] {
  if (isIP(address) === 4) return address.split('.').map(Number);
  const [head, tail = ''] = address.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return all.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function inCidr(ip: string, cidr: string): boolean {
  const range = parseCidr(cidr);
  if (!range || isIP(ip) !== isIP(cidr.split('/')[0])) return false;
  const bytes = ipBytes(ip);
  for (let bit = 0; bit < range.bits; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((bytes[bit >> 3] & mask) !== (range.bytes[bit >> 3] & mask)) return false;
  }
  return true;
}

function isObject(x: unknown): x is Pattern {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describeValue(field: Json | undefined): string {
  if (field === undefined) return '(absent)';
  const text = JSON.stringify(field);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// moto's opinion

export interface MotoEndpoint {
  endpoint: string;
  region: string;
}

/** One JSON-protocol call to moto (no SDK client for EventBridge or SQS in this repository). */
async function callJson(moto: MotoEndpoint, service: 'events' | 'sqs', target: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'X-Amz-Target': target,
      'Content-Type': service === 'sqs' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      Authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${moto.region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${target} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * What moto's own rule engine decides: for each pattern a rule (on a scratch event bus) that
 * targets a scratch SQS queue, then each event through PutEvents, and whether it reached the
 * queue. `result[p][e]` is pattern p against event e. moto fills `account`, `region`, `id` and
 * `time` of the envelope itself, so only `source`, `detail-type`, `resources` and `detail` are
 * compared this way.
 */
export async function matchOnMoto(moto: MotoEndpoint, patterns: (string | object)[], events: EventBridgeEvent[]): Promise<boolean[][]> {
  const tag = randomUUID().slice(0, 8);
  const bus = `pattern-check-${tag}`;
  await callJson(moto, 'events', 'AWSEvents.CreateEventBus', { Name: bus });
  const queues: string[] = [];
  for (const [i, pattern] of patterns.entries()) {
    const queue = await callJson(moto, 'sqs', 'AmazonSQS.CreateQueue', { QueueName: `pattern-check-${tag}-${i}` });
    const url = String(queue.QueueUrl);
    const attrs = await callJson(moto, 'sqs', 'AmazonSQS.GetQueueAttributes', { QueueUrl: url, AttributeNames: ['QueueArn'] });
    const arn = String((attrs.Attributes as Record<string, string>).QueueArn);
    const rule = `rule-${i}`;
    await callJson(moto, 'events', 'AWSEvents.PutRule', { Name: rule, EventBusName: bus, EventPattern: typeof pattern === 'string' ? pattern : JSON.stringify(pattern) });
    await callJson(moto, 'events', 'AWSEvents.PutTargets', { Rule: rule, EventBusName: bus, Targets: [{ Id: 'q', Arn: arn }] });
    queues.push(url);
  }
  const result: boolean[][] = patterns.map(() => []);
  for (const event of events) {
    const put = await callJson(moto, 'events', 'AWSEvents.PutEvents', {
      Entries: [{ EventBusName: bus, Source: event.source, DetailType: event['detail-type'], Resources: event.resources, Detail: JSON.stringify(event.detail) }],
    });
    if (Number(put.FailedEntryCount ?? 0) > 0) throw new Error(`moto PutEvents refused the event: ${JSON.stringify(put.Entries)}`);
    for (const [i, url] of queues.entries()) {
      const received = await callJson(moto, 'sqs', 'AmazonSQS.ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 });
      const messages = (received.Messages as { ReceiptHandle: string }[] | undefined) ?? [];
      for (const m of messages) await callJson(moto, 'sqs', 'AmazonSQS.DeleteMessage', { QueueUrl: url, ReceiptHandle: m.ReceiptHandle });
      result[i].push(messages.length > 0);
    }
  }
  for (const [i, url] of queues.entries()) {
    await callJson(moto, 'events', 'AWSEvents.RemoveTargets', { Rule: `rule-${i}`, EventBusName: bus, Ids: ['q'] });
    await callJson(moto, 'events', 'AWSEvents.DeleteRule', { Name: `rule-${i}`, EventBusName: bus });
    await callJson(moto, 'sqs', 'AmazonSQS.DeleteQueue', { QueueUrl: url });
  }
  await callJson(moto, 'events', 'AWSEvents.DeleteEventBus', { Name: bus });
  return result;
}
