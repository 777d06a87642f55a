import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/**
 * Options every `totes` command takes, from flags first, then environment, then defaults.
 * Parsed with zod so a bad value fails before anything starts, naming the flag.
 */
export const COMMON_FLAGS = {
  'source-url': { type: 'string' },
  'warehouse-url': { type: 'string' },
  lake: { type: 'string' },
  'warehouse-schema': { type: 'string' },
  engine: { type: 'string' },
  'trino-url': { type: 'string' },
  'commit-lag': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const Duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h)$/, 'a duration such as 30s, 5m or 1h')
  .transform((text) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)!;
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    return Number(m[1]) * factor;
  });

export const CommonOptions = z.object({
  sourceUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
  warehouseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
  lake: z.string().min(1),
  warehouseSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL identifier'),
  /** `athena` only where statements are rendered, not run (`totes compile`). */
  engine: z.enum(['duckdb', 'trino', 'athena']),
  trinoUrl: z.string().url().optional(),
  commitLagMs: Duration,
  json: z.boolean(),
  verbose: z.boolean(),
});
export type CommonOptions = z.infer<typeof CommonOptions>;

export { Duration };

/**
 * `renderOnly`: the command renders statements and runs none (`totes compile`), so any engine is
 * accepted and `--engine trino` needs no server URL.
 */
export function parseCommand<F extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  argv: string[],
  flags: F,
  options: { renderOnly?: boolean } = {},
): { values: Record<string, string | boolean | undefined>; positionals: string[]; common: CommonOptions } {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON_FLAGS, ...flags }, allowPositionals: true, strict: true });
  const v = values as Record<string, string | boolean | undefined>;
  const env = process.env;
  const parsed = CommonOptions.safeParse({
    sourceUrl: v['source-url'] ?? env.TOTES_SOURCE_URL,
    warehouseUrl: v['warehouse-url'] ?? env.TOTES_WAREHOUSE_URL,
    lake: path.resolve((v.lake as string | undefined) ?? env.TOTES_LAKE_DIR ?? path.join('.totes', 'lake')),
    warehouseSchema: v['warehouse-schema'] ?? env.TOTES_WAREHOUSE_SCHEMA ?? 'public',
    engine: v.engine ?? env.TOTES_ENGINE ?? 'duckdb',
    trinoUrl: v['trino-url'] ?? env.TOTES_TRINO_URL,
    commitLagMs: v['commit-lag'] ?? env.TOTES_COMMIT_LAG ?? '0s',
    json: v.json === true,
    verbose: v.verbose === true,
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `--${String(i.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`);
    throw new UsageError(`Invalid option: ${issues.join('; ')}`);
  }
  if (parsed.data.engine === 'athena' && !options.renderOnly) throw new UsageError('--engine athena only renders statements (`totes compile --engine athena`); locally the pipeline runs on duckdb or trino, in AWS on Athena');
  if (parsed.data.engine === 'trino' && !parsed.data.trinoUrl && !options.renderOnly) throw new UsageError('--engine trino needs --trino-url (or TOTES_TRINO_URL)');
  return { values: v, positionals, common: parsed.data };
}

/** A mistake in how the command was called: printed with usage, exit code 64. */
export class UsageError extends Error {
  override name = 'UsageError';
}
