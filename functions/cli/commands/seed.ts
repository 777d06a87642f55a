import { z } from 'zod';
import type { Log } from '../../core/ports/log';
import { seedTotesys } from '../../totesys/seed';
import { simulateActivity } from '../../totesys/simulate';
import { parseCommand, UsageError } from '../cli-options';
import { sourceLocator } from '../local-context';

export const SEED_HELP = `totes seed [--scale N] [--seed S]
  Creates the totesys tables and fills them deterministically (≈7k sales orders × N).`;
export const SIMULATE_HELP = `totes simulate [--minutes N] [--seed S]
  Applies N minutes of simulated activity: new orders with transactions and payments, amended
  orders, payments turning paid, the odd department or address edit.`;

const positiveNumber = (flag: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback;
  const parsed = z.coerce.number().positive().safeParse(text);
  if (!parsed.success) throw new UsageError(`--${flag} must be a positive number, got "${text}"`);
  return parsed.data;
};

export async function seedCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, common } = parseCommand(argv, { scale: { type: 'string' }, seed: { type: 'string' } });
  const log = makeLog(common.json, common.verbose);
  const source = await sourceLocator(common);
  try {
    const summary = await seedTotesys(await source.url(), {
      scale: positiveNumber('scale', values.scale as string | undefined, 1),
      seed: positiveNumber('seed', values.seed as string | undefined, 42),
    });
    log.info(`Seeded totesys at ${source.description}`, { ...summary });
    return 0;
  } finally {
    await source.close();
  }
}

export async function simulateCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { values, common } = parseCommand(argv, { minutes: { type: 'string' }, seed: { type: 'string' } });
  const log = makeLog(common.json, common.verbose);
  const source = await sourceLocator(common);
  try {
    const summary = await simulateActivity(await source.url(), {
      minutes: positiveNumber('minutes', values.minutes as string | undefined, 30),
      seed: values.seed === undefined ? undefined : positiveNumber('seed', values.seed as string, 1),
    });
    log.info(`Simulated activity on totesys at ${source.description}`, { ...summary });
    return 0;
  } finally {
    await source.close();
  }
}
