import { STAR_TABLES, starReferences, type StarColumn, type StarTable } from '../contract/star-tables';
import { esc, tableAnchor } from './html';

/**
 * The star-schema diagram, drawn from the star contract alone: facts in the middle, dimensions on
 * either side, a line from each fact column to the dimension key it references (the contract's
 * `starReferences`).
 */

const ROW = 15;
const HEAD = 24;
const BOX_W = 230;
const GAP = 18;
const WIDTH = 1060;
const LEFT_X = 20;
const FACT_X = (WIDTH - BOX_W) / 2;
const RIGHT_X = WIDTH - BOX_W - 20;

interface Box {
  table: StarTable;
  x: number;
  y: number;
  h: number;
}

const boxHeight = (t: StarTable) => HEAD + t.columns.length * ROW + 8;

function stack(tables: StarTable[], x: number, total: number): Box[] {
  const used = tables.reduce((s, t) => s + boxHeight(t), 0) + GAP * (tables.length - 1);
  let y = 10 + Math.max(0, (total - used) / 2);
  return tables.map((table) => {
    const box = { table, x, y, h: boxHeight(table) };
    y += box.h + GAP;
    return box;
  });
}

export function starDiagram(tables: readonly StarTable[] = STAR_TABLES): string {
  const refs = starReferences(tables);
  const facts = tables.filter((t) => t.kind === 'fact');
  const dims = tables.filter((t) => t.kind === 'dimension');
  // Dimensions most referenced go nearest the middle of their side; alternate sides to balance heights.
  const left: StarTable[] = [];
  const right: StarTable[] = [];
  const heightOf = (list: StarTable[]) => list.reduce((s, t) => s + boxHeight(t) + GAP, 0);
  for (const d of dims) (heightOf(left) <= heightOf(right) ? left : right).push(d);
  const total = Math.max(heightOf(left), heightOf(right), heightOf(facts));
  const boxes = [...stack(left, LEFT_X, total), ...stack(facts, FACT_X, total), ...stack(right, RIGHT_X, total)];
  const at = new Map(boxes.map((b) => [b.table.name, b]));
  const rowY = (box: Box, column: string) => box.y + HEAD + box.table.columns.findIndex((c) => c.name === column) * ROW + ROW / 2 + 2;

  const lines = refs.map((ref) => {
    const f = at.get(ref.fact)!;
    const d = at.get(ref.dimension)!;
    const toLeft = d.x < f.x;
    const x1 = toLeft ? f.x : f.x + BOX_W;
    const x2 = toLeft ? d.x + BOX_W : d.x;
    const y1 = rowY(f, ref.column);
    const y2 = rowY(d, d.table.key[0]);
    const mid = (x1 + x2) / 2;
    return `<path class="ref" d="M${x1},${y1.toFixed(1)} C${mid},${y1.toFixed(1)} ${mid},${y2.toFixed(1)} ${x2},${y2.toFixed(1)}"><title>${esc(`${ref.fact}.${ref.column} → ${ref.dimension}.${d.table.key[0]}`)}</title></path>`;
  });

  const drawBox = (box: Box) => {
    const { table } = box;
    const isFact = table.kind === 'fact';
    const rows = table.columns.map((col: StarColumn, i) => {
      const isKey = table.key.includes(col.name) && (col.name === table.key[0]);
      const isRef = refs.some((r) => r.fact === table.name && r.column === col.name);
      return `<text class="col${isKey ? ' key' : ''}${isRef ? ' fk' : ''}" x="${box.x + 8}" y="${(box.y + HEAD + i * ROW + ROW - 2).toFixed(1)}">${esc(col.name)}<tspan class="type" x="${box.x + BOX_W - 8}" text-anchor="end">${esc(col.type)}</tspan></text>`;
    });
    return (
      `<g class="table ${isFact ? 'fact' : 'dim'}" id="diagram-${esc(table.name)}"><a href="tables.html#${tableAnchor(table.name)}">` +
      `<rect x="${box.x}" y="${box.y}" width="${BOX_W}" height="${box.h}" rx="6"/>` +
      `<rect class="head" x="${box.x}" y="${box.y}" width="${BOX_W}" height="${HEAD}" rx="6"/>` +
      `<text class="name" x="${box.x + 8}" y="${box.y + 16}">${esc(table.name)}</text></a>${rows.join('')}</g>`
    );
  };

  const height = Math.ceil(total + 20);
  return `<svg id="star-schema" class="diagram" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Star schema: ${facts.length} facts and ${dims.length} dimensions">${lines.join('')}${boxes.map(drawBox).join('')}</svg>`;
}
