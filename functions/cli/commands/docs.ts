import type { Log } from '../../core/ports/log';
export const DOCS_HELP = `totes docs [--out DIR]`;
export async function docsCommand(_argv: string[], _makeLog: (json: boolean, verbose: boolean) => Log): Promise<number> {
  return 1;
}
