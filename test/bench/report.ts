/** One line of the bench's Markdown table. */
export interface BenchRow {
  stage: string;
  seconds?: number;
  rows?: number;
  /** The floor this line is compared with (ratio = seconds / floorS). */
  floorS?: number;
  peakRssMb?: number;
}

const fmt = (n: number | undefined, digits: number): string => (n === undefined || !Number.isFinite(n) ? '' : n.toFixed(digits));
const thousands = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '' : Math.round(n).toLocaleString('en-GB'));

export function markdownTable(rows: readonly BenchRow[]): string {
  const lines = ['| stage | seconds | rows | rows/s | ratio to floor | peak RSS (MB) |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const rate = r.seconds && r.rows ? r.rows / r.seconds : undefined;
    const ratio = r.seconds !== undefined && r.floorS ? `${(r.seconds / r.floorS).toFixed(2)}×` : '';
    const seconds = r.seconds === undefined ? '' : r.seconds < 1 ? fmt(r.seconds, 3) : fmt(r.seconds, 2);
    lines.push(`| ${r.stage} | ${seconds} | ${thousands(r.rows)} | ${thousands(rate)} | ${ratio} | ${r.peakRssMb ? fmt(r.peakRssMb, 0) : ''} |`);
  }
  return lines.join('\n');
}
