import { SOURCE_TABLES } from '../contract/source-tables';
import type { StarTable } from '../contract/star-tables';
import { esc, tableAnchor } from './html';

/**
 * Lineage: totesys table → raw lake table → SQL file → star table (lake) → warehouse table.
 * Edges into a SQL file come from the relations the file actually reads (`current_<table>`,
 * `batch_<table>`), checked against the contract's `sources`, so the picture cannot drift from the SQL.
 */

export interface LineageFile {
  table: StarTable;
  origin: string;
  sql: string;
}

export interface LineageEdge {
  from: string;
  to: string;
}

export interface Lineage {
  /** Per star table, the source tables its SQL file reads. */
  reads: Record<string, string[]>;
  /** Source tables a file reads that its contract entry does not list (or the reverse): shown as warnings. */
  mismatches: string[];
}

export function lineageOf(files: readonly LineageFile[]): Lineage {
  const reads: Record<string, string[]> = {};
  const mismatches: string[] = [];
  for (const file of files) {
    const code = file.sql.replace(/--[^\n]*/g, ' ');
    const found = SOURCE_TABLES.map((t) => t.name).filter((name) => new RegExp(`\\b(current|batch|previous|raw)_${name}\\b`).test(code));
    reads[file.table.name] = found;
    const declared = [...file.table.sources].sort();
    if (found.slice().sort().join(',') !== declared.join(',')) {
      mismatches.push(`${file.origin} reads ${found.join(', ') || 'no source table'} but the star contract lists ${declared.join(', ')} as sources of ${file.table.name}`);
    }
  }
  return { reads, mismatches };
}

const NODE_H = 22;
const STEP = 30;
const WIDTHS = [160, 270, 180, 170, 170];
const COLS = [20, 210, 510, 720, 920];
const HEADERS = ['totesys (source)', 'lake: raw / current', 'sql/transform', 'lake: star table', 'warehouse'];

export function lineageDiagram(files: readonly LineageFile[], warehouseTable: (star: string) => string): string {
  const { reads } = lineageOf(files);
  const sources = SOURCE_TABLES.map((t) => t.name);
  const rows = Math.max(sources.length, files.length);
  const height = 40 + rows * STEP;
  const y = (i: number, count: number) => 36 + i * STEP + ((rows - count) * STEP) / 2;
  const nodes: string[] = [];
  const edges: string[] = [];
  const node = (col: number, i: number, count: number, label: string, cls: string, href?: string, id?: string) => {
    const x = COLS[col];
    const yy = y(i, count);
    const body = `<rect x="${x}" y="${yy}" width="${WIDTHS[col]}" height="${NODE_H}" rx="4"/><text x="${x + 8}" y="${yy + 15}">${esc(label)}</text>`;
    nodes.push(`<g class="node ${cls}"${id ? ` id="${esc(id)}"` : ''}>${href ? `<a href="${esc(href)}">${body}</a>` : body}</g>`);
  };
  const edge = (c1: number, i1: number, n1: number, c2: number, i2: number, n2: number, title: string) => {
    const x1 = COLS[c1] + WIDTHS[c1];
    const x2 = COLS[c2];
    const y1 = y(i1, n1) + NODE_H / 2;
    const y2 = y(i2, n2) + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    edges.push(`<path class="edge" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}"><title>${esc(title)}</title></path>`);
  };
  sources.forEach((s, i) => {
    node(0, i, sources.length, s, 'source', `raw.html#${tableAnchor(s)}`);
    node(1, i, sources.length, `raw_${s} → current_${s}`, 'raw', `raw.html#${tableAnchor(s)}`);
    edge(0, i, sources.length, 1, i, sources.length, `${s} → raw_${s}`);
  });
  files.forEach((f, i) => {
    const name = f.table.name;
    node(2, i, files.length, f.origin.replace(/^sql\/transform\//, ''), 'sql', `tables.html#${tableAnchor(name)}`);
    node(3, i, files.length, name, f.table.kind, `tables.html#${tableAnchor(name)}`, `lineage-${name}`);
    node(4, i, files.length, warehouseTable(name), 'warehouse', `tables.html#${tableAnchor(name)}`);
    edge(2, i, files.length, 3, i, files.length, `${f.origin} builds ${name}`);
    edge(3, i, files.length, 4, i, files.length, `${name} loads into ${warehouseTable(name)}`);
    for (const s of reads[name] ?? []) edge(1, sources.indexOf(s as (typeof sources)[number]), sources.length, 2, i, files.length, `${s} → ${f.origin}`);
  });
  const headers = HEADERS.map((h, i) => `<text class="col-head" x="${COLS[i]}" y="18">${esc(h)}</text>`).join('');
  return `<svg id="lineage" class="diagram" viewBox="0 0 ${COLS[4] + WIDTHS[4] + 20} ${height}" role="img" aria-label="Lineage from totesys to the warehouse">${headers}${edges.join('')}${nodes.join('')}</svg>`;
}
