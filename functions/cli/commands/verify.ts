import type { Log } from '../../core/ports/log';
import { formatVerifyReport, verify } from '../../core/verify/verify';
import { parseCommand } from '../cli-options';
import { openLocalPipeline } from '../local-context';

export const VERIFY_HELP = `totes verify [--json]
  Reconciles totesys, the lake and the warehouse per table, as of the newest loaded batch: row
  versions, key sets (deletions included) and sums of money columns. Read-only. Exits 0 when all
  agree, 1 on any difference (printed per table).`;

export async function verifyCommand(argv: string[], makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  const { common } = parseCommand(argv, {});
  const log = makeLog(common.json, common.verbose);
  const pipeline = await openLocalPipeline(common, log);
  try {
    const report = await verify(pipeline.ctx);
    process.stdout.write(common.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await pipeline.close();
  }
}
