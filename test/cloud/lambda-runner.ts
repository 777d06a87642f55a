import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, promises as fs, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';

/**
 * Runs a Lambda bundle as the nodejs22.x runtime does, on this machine: the zip that Terraform
 * uploaded is unpacked into a fresh directory (LAMBDA_TASK_ROOT, the working directory), and each
 * invocation is a new `node` process (a cold start) that loads `index.js`, takes `handler`, and
 * calls it with the event and a Lambda context. The bundled code runs exactly as shipped: no jest
 * module system, no TypeScript, no module of this repository but the zip's own.
 *
 * The process gets only the environment Lambda would give it: the function's variables (as
 * Terraform set them), the runtime's own (AWS_LAMBDA_FUNCTION_NAME, _HANDLER, LAMBDA_TASK_ROOT,
 * TZ, …), the region, credentials and the endpoints the caller names, PATH, and a HOME that is an
 * empty directory (so no ~/.aws file of this machine can configure the SDK). Nothing else of the
 * test process's environment leaks in.
 *
 * What differs from Lambda: the Node.js version is this machine's (reported in the result), the
 * memory setting is not enforced (the peak RSS is reported beside it), /tmp is the host's, and
 * root may write to the task root (Lambda's is read-only): writes there are detected and reported.
 */

/** The parts of a deployed function (`terraform show -json`) the runner needs. */
export interface LambdaFunctionConfig {
  name: string;
  arn?: string;
  /** `index.handler` (module `index`, export `handler`) unless given. */
  handler?: string;
  runtime?: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** The function's environment variables, exactly as configured. */
  environment: Record<string, string>;
}

/** Where the SDK inside the bundle should send its calls (moto, the Athena facade) and as whom. */
export interface AwsTarget {
  region: string;
  /** `AWS_ENDPOINT_URL`: every service not named in `serviceEndpoints`. */
  endpointUrl?: string;
  /** Per service, by SDK service id: `{ athena: URL }` → `AWS_ENDPOINT_URL_ATHENA`; `secrets manager` → `…_SECRETS_MANAGER`. */
  serviceEndpoints?: Record<string, string>;
  /** Dummy credentials by default (moto does not check them). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  accountId?: string;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  text: string;
  /** Milliseconds since the process was started. */
  atMs: number;
}

export interface InvokeOptions {
  function: LambdaFunctionConfig;
  aws: AwsTarget;
  event: unknown;
  /** The invocation's time limit (getRemainingTimeInMillis counts down from it); the function's timeout unless given. */
  timeoutMs?: number;
  requestId?: string;
  /** Aborting kills the process, as {@link Invocation.kill} does. */
  signal?: AbortSignal;
  /** Each output line as it arrives (e.g. to kill the run at a chosen step). */
  onLog?: (line: LogLine) => void;
  /** The `node` to run; this process's by default. */
  nodeBinary?: string;
}

/** What Lambda reports for a failed invocation. */
export interface LambdaError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export interface InvocationResult {
  requestId: string;
  /**
   * `succeeded`/`failed`: the handler returned/threw (or init failed, see `phase`); `timed-out`: the
   * time limit passed; `killed`: stopped by `kill()` or the abort signal; `crashed`: the process
   * ended without an answer (a native crash, process.exit in the code, an emptied event loop).
   */
  outcome: 'succeeded' | 'failed' | 'timed-out' | 'killed' | 'crashed';
  /** The handler's return value, through JSON as Lambda returns it. */
  result?: unknown;
  error?: LambdaError;
  /** `init` when loading the module or finding the handler failed. */
  phase?: 'init' | 'invoke';
  logs: LogLine[];
  /** Module load (cold start) time. */
  initMs?: number;
  /** Handler time (what Lambda bills); the process's whole life when the handler did not finish. */
  durationMs: number;
  /** Process start to exit. */
  totalMs: number;
  maxRssMb?: number;
  memoryMb: number;
  nodeVersion?: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Files the run created or changed under the task root (read-only on Lambda: each would have failed with EROFS). */
  taskRootWrites: string[];
}

export interface Invocation {
  requestId: string;
  /** Settles when the process has exited; never rejects for a failed handler (see `outcome`). */
  result: Promise<InvocationResult>;
  /** Kills the process at once (SIGKILL by default), like a Lambda sandbox torn down mid-run. */
  kill(signal?: NodeJS.Signals): void;
}

export interface UnpackedBundle {
  /** LAMBDA_TASK_ROOT: the zip's contents. */
  taskRoot: string;
  /** Paths in the zip, `/`-separated. */
  files: string[];
  /** A new process per call: a cold start. Invocations may run at the same time. */
  invoke(options: InvokeOptions): Invocation;
  /** Deletes the unpacked bundle (after the invocations have settled). */
  dispose(): Promise<void>;
}

export interface ZipFile {
  name: string;
  data: Buffer;
  /** Unix mode when the archive records one. */
  mode?: number;
}

/**
 * Reads a zip's central directory and inflates its entries (stored or deflate; no zip64, no
 * encryption), checking each CRC. Names that would escape the extraction directory are refused.
 */
export function readZip(zip: Buffer): ZipFile[] {
  const EOCD = 0x06054b50;
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error('Not a zip archive: no end-of-central-directory record');
  const count = zip.readUInt16LE(end + 10);
  const size = zip.readUInt32LE(end + 12);
  let at = zip.readUInt32LE(end + 16);
  if (count === 0xffff || size === 0xffffffff || at === 0xffffffff) throw new Error('zip64 archives are not supported');
  const files: ZipFile[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`Corrupt zip: central directory entry ${n} not found at ${at}`);
    const madeBy = zip.readUInt16LE(at + 4) >> 8;
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressed = zip.readUInt32LE(at + 20);
    const uncompressed = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const external = zip.readUInt32LE(at + 38);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString(flags & 0x0800 ? 'utf8' : 'latin1', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (flags & 0x1) throw new Error(`Zip entry ${name} is encrypted`);
    if (name.endsWith('/')) continue;
    const normal = path.posix.normalize(name);
    if (path.posix.isAbsolute(normal) || normal.startsWith('../') || normal.includes('\\')) throw new Error(`Zip entry ${name} would be written outside the task root`);
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`Corrupt zip: no local header for ${name}`);
    const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const body = zip.subarray(start, start + compressed);
    let data: Buffer;
    if (method === 0) data = Buffer.from(body);
    else if (method === 8) data = inflateRawSync(body);
    else throw new Error(`Zip entry ${name} uses compression method ${method}; only stored (0) and deflate (8) are supported`);
    if (data.length !== uncompressed) throw new Error(`Zip entry ${name}: ${data.length} bytes inflated, ${uncompressed} recorded`);
    if (crc32(data) >>> 0 !== crc) throw new Error(`Zip entry ${name}: CRC mismatch`);
    files.push({ name: normal, data, mode: madeBy === 3 ? (external >>> 16) & 0o7777 : undefined });
  }
  return files;
}

/**
 * Unpacks a bundle (the zip's bytes, or a path to it) into a new temporary directory:
 * `<dir>/task` (the task root), `<dir>/runtime` (the bootstrap and per-invocation files),
 * `<dir>/home` (an empty HOME).
 */
export async function unpackBundle(zip: Buffer | string): Promise<UnpackedBundle> {
  const bytes = typeof zip === 'string' ? await fs.readFile(zip) : zip;
  const entries = readZip(bytes);
  const root = await fs.mkdtemp(path.join(tmpdir(), 'totes-lambda-'));
  const taskRoot = path.join(root, 'task');
  const runtimeDir = path.join(root, 'runtime');
  const home = path.join(root, 'home');
  await Promise.all([fs.mkdir(taskRoot), fs.mkdir(runtimeDir), fs.mkdir(home)]);
  for (const entry of entries) {
    const file = path.join(taskRoot, ...entry.name.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Lambda makes every file readable; executables keep their bit.
    await fs.writeFile(file, entry.data, { mode: entry.mode && entry.mode & 0o111 ? 0o755 : 0o644 });
  }
  await fs.writeFile(path.join(runtimeDir, 'bootstrap.cjs'), BOOTSTRAP);
  const active = new Set<Invocation>();
  return {
    taskRoot,
    files: entries.map((e) => e.name),
    invoke(options) {
      const invocation = startInvocation({ ...options, taskRoot, runtimeDir, home });
      active.add(invocation);
      void invocation.result.finally(() => active.delete(invocation));
      return invocation;
    },
    async dispose() {
      for (const invocation of active) invocation.kill();
      await Promise.all([...active].map((i) => i.result));
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/** Unpacks, invokes once, and deletes the unpacked bundle when the invocation settles. */
export async function invokeBundle(zip: Buffer | string, options: InvokeOptions): Promise<Invocation> {
  const bundle = await unpackBundle(zip);
  const invocation = bundle.invoke(options);
  return { ...invocation, result: invocation.result.finally(() => bundle.dispose()) };
}

/** The handler's result of a succeeded invocation; otherwise throws with its error and last log lines. */
export function resultOf<T = unknown>(invocation: InvocationResult): T {
  if (invocation.outcome === 'succeeded') return invocation.result as T;
  const tail = invocation.logs.slice(-15).map((l) => `  ${l.text}`).join('\n');
  const error = invocation.error ? `${invocation.error.errorType}: ${invocation.error.errorMessage}` : 'no error reported';
  throw new Error(`Invocation ${invocation.requestId} ${invocation.outcome}${invocation.phase === 'init' ? ' during init' : ''}: ${error}\nlast log lines:\n${tail}`);
}

/**
 * Variables Lambda reserves: a function cannot set them (the API refuses), the runtime does.
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
 */
export const RESERVED_VARIABLES = [
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
] as const;

/** The whole environment of the function's process (see the module comment). */
export function lambdaEnvironment(fn: LambdaFunctionConfig, aws: AwsTarget, taskRoot: string, home: string, requestId = 'init'): Record<string, string> {
  const reserved = Object.keys(fn.environment).filter((k) => (RESERVED_VARIABLES as readonly string[]).includes(k));
  if (reserved.length) throw new Error(`Function ${fn.name} sets reserved variables ${reserved.join(', ')}; Lambda refuses them`);
  const credentials = aws.credentials ?? { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  const env: Record<string, string> = {
    // Set by the runtime but not reserved: the function's own variables may override these.
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    NODE_PATH: '/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task',
    HOME: home,
    ...fn.environment,
    // Reserved: always the runtime's.
    _HANDLER: fn.handler ?? 'index.handler',
    AWS_REGION: aws.region,
    AWS_DEFAULT_REGION: aws.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime ?? 'nodejs22.x'}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${requestId.replace(/-/g, '')}`,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    LAMBDA_TASK_ROOT: taskRoot,
    LAMBDA_RUNTIME_DIR: '/var/runtime',
  };
  if (credentials.sessionToken) env.AWS_SESSION_TOKEN = credentials.sessionToken;
  if (aws.endpointUrl) env.AWS_ENDPOINT_URL = aws.endpointUrl;
  for (const [service, url] of Object.entries(aws.serviceEndpoints ?? {})) {
    env[`AWS_ENDPOINT_URL_${service.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`] = url;
  }
  return env;
}

/** Files under `dir` with their size and modification time, to see what a run wrote. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const s = statSync(full);
        out.set(path.relative(dir, full).split(path.sep).join('/'), `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

interface StartOptions extends InvokeOptions {
  taskRoot: string;
  runtimeDir: string;
  home: string;
}

/** Time Lambda gives the init phase (module load) before the invocation's own timeout starts. */
const INIT_ALLOWANCE_MS = 10_000;

function startInvocation(options: StartOptions): Invocation {
  const requestId = options.requestId ?? randomUUID();
  const fn = options.function;
  const timeoutMs = options.timeoutMs ?? fn.timeoutSeconds * 1000;
  const env = lambdaEnvironment(fn, options.aws, options.taskRoot, options.home, requestId);
  const resultFile = path.join(options.runtimeDir, `${requestId}.result.json`);
  const invokeFile = path.join(options.runtimeDir, `${requestId}.invoke.json`);
  const region = options.aws.region;
  const account = options.aws.accountId ?? '123456789012';
  const invoke = {
    event: options.event,
    requestId,
    timeoutMs,
    handler: env._HANDLER,
    context: {
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: fn.arn ?? `arn:aws:lambda:${region}:${account}:function:${fn.name}`,
      memoryLimitInMB: String(fn.memoryMb),
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    },
  };
  const before = snapshot(options.taskRoot);
  writeFileSync(invokeFile, JSON.stringify(invoke));

  const t0 = Date.now();
  const child = spawn(options.nodeBinary ?? process.execPath, [path.join(options.runtimeDir, 'bootstrap.cjs'), invokeFile, resultFile], {
    cwd: options.taskRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const emit = (line: LogLine) => {
    logs.push(line);
    try {
      options.onLog?.(line);
    } catch {
      // A listener's failure must not lose the invocation's outcome.
    }
  };
  const collect = (stream: 'stdout' | 'stderr') => {
    let pending = '';
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        emit({ stream, text: pending.slice(0, nl), atMs: Date.now() - t0 });
        pending = pending.slice(nl + 1);
      }
    });
    child[stream].on('end', () => {
      if (pending) emit({ stream, text: pending, atMs: Date.now() - t0 });
    });
  };
  collect('stdout');
  collect('stderr');

  let killedBy: 'caller' | 'timeout' | undefined;
  const kill = (signal: NodeJS.Signals = 'SIGKILL', by: 'caller' | 'timeout' = 'caller') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killedBy ??= by;
    child.kill(signal);
  };
  // The bootstrap enforces the timeout itself; this is for a handler that blocks its event loop.
  const guard = setTimeout(() => kill('SIGKILL', 'timeout'), INIT_ALLOWANCE_MS + timeoutMs + 5_000);
  const onAbort = () => kill();
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const result = new Promise<InvocationResult>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    child.once('close', (exitCode, signal) => {
      clearTimeout(guard);
      options.signal?.removeEventListener('abort', onAbort);
      const totalMs = Date.now() - t0;
      const after = snapshot(options.taskRoot);
      const taskRootWrites = [...after].filter(([f, stamp]) => before.get(f) !== stamp).map(([f]) => f).sort();
      const base = { requestId, logs, totalMs, memoryMb: fn.memoryMb, exitCode, signal, taskRootWrites };
      let answer: BootstrapAnswer | undefined;
      if (existsSync(resultFile)) answer = JSON.parse(readFileSync(resultFile, 'utf8')) as BootstrapAnswer;
      void fs.rm(resultFile, { force: true });
      void fs.rm(invokeFile, { force: true });
      // An answer written before a kill took effect stands: the handler had finished.
      if (answer) {
        resolve({
          ...base,
          outcome: answer.outcome,
          result: answer.result,
          error: answer.error,
          phase: answer.phase,
          initMs: answer.initMs,
          durationMs: answer.durationMs ?? totalMs,
          maxRssMb: answer.maxRssKb === undefined ? undefined : Math.round(answer.maxRssKb / 1024),
          nodeVersion: answer.nodeVersion,
        });
        return;
      }
      if (killedBy === 'caller') {
        resolve({ ...base, outcome: 'killed', durationMs: totalMs, error: { errorType: 'Runtime.Killed', errorMessage: `Killed by the caller (${signal ?? `exit ${exitCode}`}) after ${totalMs} ms` } });
      } else if (killedBy === 'timeout') {
        resolve({ ...base, outcome: 'timed-out', durationMs: totalMs, error: { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds (the event loop was blocked; killed)` } });
      } else {
        const why = spawnError ? `could not start ${options.nodeBinary ?? process.execPath}: ${spawnError.message}` : `exited (${signal ?? `code ${exitCode}`}) without an answer`;
        resolve({ ...base, outcome: 'crashed', durationMs: totalMs, error: { errorType: 'Runtime.ExitError', errorMessage: `The function's process ${why}` } });
      }
    });
  });
  return { requestId, result, kill: (signal) => kill(signal) };
}

interface BootstrapAnswer {
  outcome: 'succeeded' | 'failed' | 'timed-out' | 'crashed';
  result?: unknown;
  error?: LambdaError;
  phase?: 'init' | 'invoke';
  initMs?: number;
  durationMs?: number;
  maxRssKb?: number;
  nodeVersion?: string;
}

/**
 * The runtime inside the child process: what the nodejs22.x runtime interface client does for one
 * invocation. Console output is formatted as Lambda's Text log format does it (timestamp, request
 * id, level, message; a multi-line message stays one record, its newlines turned into \r). The
 * answer is written to a file and the process exits at once, as a sandbox is frozen when the
 * handler returns: nothing left running after it gets to finish.
 */
const BOOTSTRAP = String.raw`'use strict';
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { pathToFileURL } = require('node:url');

const [invokeFile, resultFile] = process.argv.slice(2);
const invoke = JSON.parse(fs.readFileSync(invokeFile, 'utf8'));
const requestId = invoke.requestId;
let answered = false;

function answer(outcome) {
  if (answered) return;
  answered = true;
  outcome.maxRssKb = process.resourceUsage().maxRSS;
  outcome.nodeVersion = process.versions.node;
  const temp = resultFile + '.tmp';
  fs.writeFileSync(temp, JSON.stringify(outcome, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  fs.renameSync(temp, resultFile);
  process.exit(0);
}

function errorOf(err, type) {
  if (err instanceof Error) {
    return { errorType: type || err.name || 'Error', errorMessage: err.message, trace: String(err.stack || '').split('\n') };
  }
  return { errorType: type || typeof err, errorMessage: typeof err === 'string' ? err : util.inspect(err) };
}

for (const [method, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'], ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE']]) {
  console[method] = (...args) => {
    process.stdout.write(new Date().toISOString() + '\t' + requestId + '\t' + level + '\t' + util.format(...args).replace(/\n/g, '\r') + '\n');
  };
}

process.on('uncaughtException', (err) => answer({ outcome: 'failed', phase: 'invoke', error: errorOf(err, 'Runtime.UncaughtException') }));
process.on('unhandledRejection', (reason) => answer({ outcome: 'failed', phase: 'invoke', error: errorOf(reason, 'Runtime.UnhandledPromiseRejection') }));
process.on('beforeExit', () => answer({ outcome: 'crashed', phase: 'invoke', error: { errorType: 'Runtime.ExitError', errorMessage: 'The event loop emptied before the handler settled (a promise that never resolves?)' } }));

async function loadHandler() {
  const spec = invoke.handler;
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw Object.assign(new Error('Bad handler ' + spec + ': expected module.export'), { name: 'Runtime.MalformedHandlerName' });
  const moduleName = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT;
  const candidates = ['.js', '.mjs', '.cjs'].map((ext) => path.join(root, moduleName + ext));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) throw Object.assign(new Error("Cannot find module '" + moduleName + "'"), { name: 'Runtime.ImportModuleError' });
  let mod;
  if (file.endsWith('.mjs')) mod = await import(pathToFileURL(file).href);
  else {
    try {
      mod = require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') mod = await import(pathToFileURL(file).href);
      else throw err;
    }
  }
  const handler = mod[exportName] ?? (mod.default && mod.default[exportName]);
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(spec + ' is undefined or not exported'), { name: 'Runtime.HandlerNotFound' });
  }
  return handler;
}

(async () => {
  const tInit = Date.now();
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    return answer({ outcome: 'failed', phase: 'init', initMs: Date.now() - tInit, error: errorOf(err, err && String(err.name).startsWith('Runtime.') ? err.name : undefined) });
  }
  const initMs = Date.now() - tInit;
  const start = Date.now();
  const deadline = start + invoke.timeoutMs;
  setTimeout(() => answer({
    outcome: 'timed-out', phase: 'invoke', initMs, durationMs: Date.now() - start,
    error: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after ' + (invoke.timeoutMs / 1000).toFixed(2) + ' seconds' },
  }), invoke.timeoutMs).unref();
  const settle = (err, result) => {
    const durationMs = Date.now() - start;
    if (err) answer({ outcome: 'failed', phase: 'invoke', initMs, durationMs, error: errorOf(err) });
    else answer({ outcome: 'succeeded', phase: 'invoke', initMs, durationMs, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  };
  const context = {
    ...invoke.context,
    awsRequestId: requestId,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (err, result) => settle(err, result),
    succeed: (result) => settle(null, result),
    fail: (err) => settle(err || new Error('fail')),
  };
  try {
    const returned = handler.length >= 3 ? handler(invoke.event, context, settle) : handler(invoke.event, context);
    if (returned && typeof returned.then === 'function') settle(null, await returned);
    else if (handler.length < 3) settle(null, returned);
  } catch (err) {
    settle(err);
  }
})();
`;
