import { esc, shortNumber } from './html';

/**
 * Small inline-SVG charts for the data docs (no scripts, no CDN: the site must open from a file on
 * a machine with no internet). Every mark carries a <title>, so hovering shows the exact value.
 */

export interface BarSegment {
  value: number;
  color: string;
  title: string;
}
export interface Bar {
  label: string;
  segments: BarSegment[];
}

const W = 880;
const H = 260;
const M = { top: 16, right: 16, bottom: 46, left: 56 };

/** A vertical (optionally stacked) bar chart; `id` names the <svg> for tests and links. */
export function barChart(id: string, caption: string, bars: readonly Bar[], yLabel: string, empty = 'No data yet: run a cycle (`totes run`) and regenerate the docs.'): string {
  if (!bars.length) return emptyChart(id, caption, empty);
  const max = Math.max(1, ...bars.map((b) => b.segments.reduce((s, x) => s + x.value, 0)));
  const ticks = niceTicks(max);
  const top = ticks.at(-1)!;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const step = plotW / bars.length;
  const barW = Math.max(2, Math.min(48, step * 0.7));
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  const labelEvery = Math.ceil(bars.length / 16);
  const parts: string[] = [axes(ticks, y, yLabel)];
  bars.forEach((bar, i) => {
    const x = M.left + step * i + (step - barW) / 2;
    let base = 0;
    for (const seg of bar.segments) {
      if (seg.value <= 0) continue;
      const y0 = y(base + seg.value);
      const h = Math.max(1.5, y(base) - y0);
      parts.push(`<rect class="bar" x="${x.toFixed(1)}" y="${(y(base) - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${seg.color}"><title>${esc(seg.title)}</title></rect>`);
      base += seg.value;
    }
    if (bars.length <= 24) parts.push(`<text class="val" x="${(x + barW / 2).toFixed(1)}" y="${(y(base) - 4).toFixed(1)}" text-anchor="middle">${esc(shortNumber(base))}</text>`);
    if (i % labelEvery === 0) parts.push(`<text class="tick" x="${(x + barW / 2).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(bar.label)}</text>`);
  });
  return frame(id, caption, parts.join(''));
}

export interface Point {
  /** Epoch milliseconds. */
  x: number;
  y: number;
  title: string;
  color?: string;
}

/** A time-series line chart with an optional dashed threshold (the SLA). */
export function lineChart(
  id: string,
  caption: string,
  points: readonly Point[],
  yLabel: string,
  threshold?: { value: number; label: string },
  formatY = shortNumber,
  empty = 'No run history yet: `totes run` records one point per cycle.',
): string {
  if (!points.length) return emptyChart(id, caption, empty);
  const max = Math.max(1, threshold?.value ?? 0, ...points.map((p) => p.y));
  const ticks = niceTicks(max);
  const top = ticks.at(-1)!;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const xs = points.map((p) => p.x);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const span = Math.max(1, x1 - x0);
  const x = (t: number) => (points.length === 1 ? M.left + plotW / 2 : M.left + ((t - x0) / span) * plotW);
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  const parts: string[] = [axes(ticks, y, yLabel, formatY)];
  if (threshold) {
    parts.push(`<line class="sla" x1="${M.left}" x2="${W - M.right}" y1="${y(threshold.value).toFixed(1)}" y2="${y(threshold.value).toFixed(1)}"/>`);
    parts.push(`<text class="sla-label" x="${W - M.right - 4}" y="${(y(threshold.value) - 4).toFixed(1)}" text-anchor="end">${esc(threshold.label)}</text>`);
  }
  const sorted = [...points].sort((a, b) => a.x - b.x);
  parts.push(`<polyline class="line" points="${sorted.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ')}"/>`);
  for (const p of sorted) parts.push(`<circle class="pt" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="4" fill="${p.color ?? '#2563eb'}"><title>${esc(p.title)}</title></circle>`);
  const fmt = (t: number) => new Date(t).toISOString().slice(span > 2 * 86_400_000 ? 0 : 5, 16).replace('T', ' ');
  parts.push(`<text class="tick" x="${M.left}" y="${H - M.bottom + 16}" text-anchor="start">${esc(fmt(x0))}</text>`);
  if (points.length > 1) parts.push(`<text class="tick" x="${W - M.right}" y="${H - M.bottom + 16}" text-anchor="end">${esc(fmt(x1))}</text>`);
  parts.push(`<text class="axis-label" x="${M.left + plotW / 2}" y="${H - 8}" text-anchor="middle">run finished (UTC)</text>`);
  return frame(id, caption, parts.join(''));
}

function axes(ticks: number[], y: (v: number) => number, label: string, format = shortNumber): string {
  const parts = ticks.map(
    (t) =>
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/>` +
      `<text class="tick" x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${esc(format(t))}</text>`,
  );
  parts.push(`<text class="axis-label" transform="translate(14 ${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`);
  return parts.join('');
}

/** 0 and four or five round steps covering `max`. */
export function niceTicks(max: number): number[] {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return ticks;
}

function frame(id: string, caption: string, body: string): string {
  return `<figure class="chart"><svg id="${esc(id)}" class="chart-svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(caption)}">${body}</svg><figcaption>${esc(caption)}</figcaption></figure>`;
}

function emptyChart(id: string, caption: string, message: string): string {
  return frame(id, caption, `<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(message)}</text>`);
}
