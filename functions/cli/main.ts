import type { Log } from '../core/ports/log';
import { ConsoleLog } from '../local/console-log';
import { UsageError } from './cli-options';
import { DEMO_HELP, demoCommand } from './commands/demo';
import { QUERY_HELP, queryCommand } from './commands/query';
import { RUN_HELP, runCommand } from './commands/run';
import { SEED_HELP, seedCommand, SIMULATE_HELP, simulateCommand } from './commands/seed';
import { VERIFY_HELP, verifyCommand } from './commands/verify';
import { STATUS_HELP, statusCommand } from './commands/status';
import { DOCS_HELP, docsCommand } from './commands/docs';
import { BACKFILL_HELP, backfillCommand } from './commands/backfill';
import { COMPILE_HELP, compileCommand } from './commands/compile';
import { awsCommand } from './commands/aws-operate';
import { AWS_HELP, operatorMessage, wantsAws } from './aws-target';

/**
 * `totes`: the local face of the pipeline. Every command takes --source-url, --warehouse-url,
 * --lake DIR (env TOTES_SOURCE_URL, TOTES_WAREHOUSE_URL, TOTES_LAKE_DIR) and --warehouse-schema;
 * with no URL it uses embedded PGlite databases kept beside the lake folder (default ./.totes/).
 */
type Command = (argv: string[], makeLog: (json: boolean, verbose: boolean) => Log) => Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  seed: { run: seedCommand, help: SEED_HELP },
  run: { run: runCommand, help: RUN_HELP },
  simulate: { run: simulateCommand, help: SIMULATE_HELP },
  query: { run: queryCommand, help: QUERY_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
  verify: { run: verifyCommand, help: VERIFY_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  docs: { run: docsCommand, help: DOCS_HELP },
  backfill: { run: backfillCommand, help: BACKFILL_HELP },
  compile: { run: compileCommand, help: COMPILE_HELP },
};

const COMMON_HELP = `Options for every command:
  --source-url URL        totesys (env TOTES_SOURCE_URL); default: embedded PGlite in <lake>/../totesys
  --warehouse-url URL     warehouse (env TOTES_WAREHOUSE_URL); default: embedded PGlite in <lake>/../warehouse
  --lake DIR              lake folder (env TOTES_LAKE_DIR); default ./.totes/lake
  --warehouse-schema S    warehouse schema (env TOTES_WAREHOUSE_SCHEMA); default public
  --json                  machine-readable output; --verbose more detail

${AWS_HELP}`;

function usage(): string {
  return `Totes Lake — totesys → lake → star schema → warehouse\n\nUsage: totes <command> [options]\n\n${Object.values(COMMANDS)
    .map((c) => c.help)
    .join('\n\n')}\n\n${COMMON_HELP}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 64;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`totes: unknown command "${name}"\n\n${usage()}`);
    return 64;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n\n${COMMON_HELP}\n`);
    return 0;
  }
  const makeLog = (json: boolean, verbose: boolean) => new ConsoleLog(process.stderr, json || !process.stderr.isTTY, verbose);
  try {
    return await (wantsAws(rest) ? awsCommand(name, rest, makeLog) : command.run(rest, makeLog));
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`totes ${name}: ${(err as Error).message}\n\n${command.help}\n`);
      return 64;
    }
    process.stderr.write(`totes ${name} failed: ${operatorMessage(err)}\n`);
    if (process.env.TOTES_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`totes: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
