import { postgresDataType, trinoType } from '../contract/source-tables';
import { lakeTrinoType, LINEAGE_COLUMNS, starPostgresType, starReferences } from '../contract/star-tables';
import { formatAge } from '../operate/pipeline-status';
import { barChart, lineChart } from './charts';
import type { DocsModel } from './docs-model';
import { esc, tableAnchor } from './html';
import { lineageDiagram, lineageOf } from './lineage';
import { starDiagram } from './star-diagram';
import { dataTests } from '../transform/data-tests';

/**
 * The data docs: a static site (file name → HTML) that opens from disk with no server and no
 * network — CSS inline, diagrams and charts inline SVG, no scripts. Pages: overview with the star
 * schema, star tables, raw tables, lineage, run history, analyst queries.
 */

const PAGES = [
  ['index.html', 'Overview'],
  ['tables.html', 'Star tables'],
  ['raw.html', 'Raw tables'],
  ['lineage.html', 'Lineage'],
  ['history.html', 'Run history'],
  ['analysis.html', 'Analyst layer'],
] as const;

export function renderDocsSite(model: DocsModel): Record<string, string> {
  return {
    'index.html': page(model, 'index.html', overview(model)),
    'tables.html': page(model, 'tables.html', starTablesPage(model)),
    'raw.html': page(model, 'raw.html', rawTablesPage(model)),
    'lineage.html': page(model, 'lineage.html', lineagePage(model)),
    'history.html': page(model, 'history.html', historyPage(model)),
    'analysis.html': page(model, 'analysis.html', analysisPage(model)),
  };
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2937;background:#f8fafc}
header{background:#0f172a;color:#e2e8f0;padding:14px 28px;display:flex;align-items:baseline;gap:24px;flex-wrap:wrap}
header h1{font-size:18px;margin:0;color:#fff}header nav a{color:#cbd5e1;text-decoration:none;margin-right:16px}header nav a.on{color:#fff;font-weight:600;border-bottom:2px solid #38bdf8}
main{max-width:1180px;margin:0 auto;padding:20px 28px 60px}h2{font-size:20px;margin:28px 0 8px}h3{font-size:16px;margin:22px 0 6px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:12px 0}
.stats{display:flex;gap:12px;flex-wrap:wrap}.stat{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:150px}.stat b{display:block;font-size:22px}
table.cols{border-collapse:collapse;width:100%;font-size:13px}table.cols th,table.cols td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}table.cols th{background:#f1f5f9}
code,pre{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:6px;overflow:auto}
.muted{color:#64748b}.tag{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;background:#e0f2fe;color:#075985}.tag.fact{background:#fef3c7;color:#92400e}
.ok{color:#15803d}.bad{color:#b91c1c}.warn{background:#fef2f2;border-color:#fecaca}
svg.diagram{width:100%;height:auto;background:#fff;border:1px solid #e2e8f0;border-radius:8px}
svg .table rect{fill:#fff;stroke:#94a3b8}svg .table.fact rect.head{fill:#f59e0b}svg .table.dim rect.head{fill:#0ea5e9}svg .table text.name{fill:#fff;font-weight:600;font-size:13px}
svg .col{font-size:11px;fill:#334155}svg .col.key{font-weight:700}svg .col.fk{fill:#92400e}svg .type{fill:#94a3b8;font-size:10px}
svg path.ref{fill:none;stroke:#94a3b8;stroke-width:1.2;opacity:.8}svg path.edge{fill:none;stroke:#94a3b8;stroke-width:1.2}
svg .node rect{stroke:#64748b;fill:#fff}svg .node text{font-size:11px;fill:#0f172a}svg .node.source rect{fill:#ede9fe}svg .node.raw rect{fill:#f1f5f9}svg .node.sql rect{fill:#ecfccb}svg .node.dimension rect{fill:#e0f2fe}svg .node.fact rect{fill:#fef3c7}svg .node.warehouse rect{fill:#dcfce7}
svg .col-head{font-size:12px;font-weight:600;fill:#334155}
figure.chart{margin:12px 0;background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px}figure.chart svg{width:100%;height:auto}figcaption{color:#475569;font-size:13px;padding:0 8px 4px}
svg .grid{stroke:#e5e7eb}svg .tick,svg .val{font-size:11px;fill:#64748b}svg .axis-label{font-size:12px;fill:#475569}svg .line{fill:none;stroke:#2563eb;stroke-width:2}svg .sla{stroke:#dc2626;stroke-dasharray:6 4}svg .sla-label{fill:#dc2626;font-size:11px}svg .empty{fill:#94a3b8;font-size:14px}
`;

function page(model: DocsModel, file: string, body: string): string {
  const title = PAGES.find(([f]) => f === file)![1];
  const nav = PAGES.map(([f, label]) => `<a href="${f}"${f === file ? ' class="on"' : ''}>${esc(label)}</a>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — Totes Lake data docs</title><style>${STYLE}</style></head>
<body><header><h1>Totes Lake data docs</h1><nav>${nav}</nav><span class="muted">generated ${esc(model.generatedAt)}</span></header>
<main id="page-${esc(file.replace('.html', ''))}"><h2>${esc(title)}</h2>${body}</main></body></html>
`;
}

function overview(model: DocsModel): string {
  const facts = model.sqlFiles.filter((f) => f.table.kind === 'fact');
  const lastRun = model.runs.at(-1);
  const fresh = [...model.runs].reverse().find((r) => r.freshness)?.freshness;
  const stats = [
    ['source tables', String(model.sourceTables.length)],
    ['star tables', `${model.sqlFiles.length} (${facts.length} facts)`],
    ['published batches', String(model.lake.batches)],
    [`runs in the last ${windowOf(model)}`, String(model.runs.length)],
    ['last run', lastRun ? `${lastRun.outcome} · ${lastRun.finishedAt.slice(0, 19).replace('T', ' ')}` : `none in the last ${windowOf(model)}`],
    ['freshness at last run', fresh ? formatAge(fresh.seconds) : 'unknown'],
  ];
  return (
    `<p>totesys (PostgreSQL) → raw lake (gzip NDJSON, every row version) → star schema (Parquet, built by <code>sql/transform/*.sql</code>) → warehouse (PostgreSQL). ` +
    `Facts keep every version of their source row; <code>&lt;fact&gt;_current</code> views show the latest. Columns and descriptions come from the table contracts; grain and rules from each SQL file's header.</p>` +
    `<div class="stats">${stats.map(([k, v]) => `<div class="stat"><span class="muted">${esc(k)}</span><b>${esc(v)}</b></div>`).join('')}</div>` +
    problems(model) +
    `<h2>Star schema</h2><p class="muted">Facts (amber) in the middle; each line joins a fact column to the dimension key it references. Click a table for its columns.</p>${starDiagram(model.sqlFiles.map((f) => f.table))}`
  );
}

/** The history window, as the pages name it: "24 h", "7 days", else as an age ("1h 30m"). */
function windowOf(model: DocsModel): string {
  const ms = Date.parse(model.generatedAt) - Date.parse(model.historySince);
  const hours = ms / 3_600_000;
  if (hours >= 48 && hours % 24 === 0) return `${hours / 24} days`;
  return Number.isInteger(hours) ? `${hours} h` : formatAge(ms / 1000);
}

function problems(model: DocsModel): string {
  const lineage = lineageOf(model.sqlFiles).mismatches;
  const all = [...model.problems, ...lineage];
  return all.length ? `<div class="card warn"><b>Problems</b><ul>${all.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></div>` : '';
}

function starTablesPage(model: DocsModel): string {
  const refs = starReferences(model.sqlFiles.map((f) => f.table));
  const { reads } = lineageOf(model.sqlFiles);
  const index = `<p>${model.sqlFiles.map((f) => `<a href="#${tableAnchor(f.table.name)}">${esc(f.table.name)}</a>`).join(' · ')}</p>`;
  return (
    index +
    model.sqlFiles
      .map((file) => {
        const t = file.table;
        const rows = t.columns.map((c) => {
          const ref = refs.find((r) => r.fact === t.name && r.column === c.name);
          return `<tr><td><code>${esc(c.name)}</code>${t.key.includes(c.name) ? ' <span class="tag">key</span>' : ''}</td><td><code>${esc(lakeTrinoType(c.type))}</code></td><td><code>${esc(starPostgresType(c.type))}</code></td><td>${c.nullable ? 'yes' : 'no'}</td><td>${esc(c.description)}${ref ? ` → <a href="#${tableAnchor(ref.dimension)}">${esc(ref.dimension)}</a>` : ''}</td></tr>`;
        });
        const extra = [
          ...(t.surrogateKey ? [`<tr><td><code>${esc(t.surrogateKey)}</code></td><td class="muted">—</td><td><code>bigint identity</code></td><td>no</td><td>Warehouse surrogate key of the version (warehouse only).</td></tr>`] : []),
          ...LINEAGE_COLUMNS.map((c) => `<tr><td><code>${c}</code></td><td><code>varchar</code></td><td class="muted">—</td><td>no</td><td>${c === '_batch_id' ? 'Batch that built the row' : 'sha256 of the SQL file that built the row'} (lake only).</td></tr>`),
          // On Athena a fact is a view over its compacted months and recent batches (functions/aws/fact-view.ts), with these two columns besides; `totes query` binds them too (core/sql/relations.ts, analystFacts).
          ...(t.kind === 'fact'
            ? [
                `<tr><td><code>created_month</code></td><td><code>varchar</code></td><td class="muted">—</td><td>no</td><td>Month of <code>created_date</code> ('YYYY-MM'). Filter on it to read only those months: the compacted months are partitioned by it (Athena's view of the fact; <code>totes query</code> has it too).</td></tr>`,
                `<tr><td><code>batch_id</code></td><td><code>varchar</code></td><td class="muted">—</td><td>no</td><td>Batch that wrote the version, as <code>_batch_id</code>; the recent, not yet compacted batches are partitioned by it (Athena's view of the fact).</td></tr>`,
              ]
            : []),
        ];
        const view = model.views.find((v) => v.fact === t.name);
        return (
          `<section class="card" id="${tableAnchor(t.name)}"><h3>${esc(t.name)} <span class="tag${t.kind === 'fact' ? ' fact' : ''}">${esc(t.kind)}</span></h3>` +
          `<p>${esc(t.description)}</p><pre class="header">${esc(file.header)}</pre>` +
          `<p><b>Lineage:</b> ${(reads[t.name] ?? []).map((s) => `<a href="raw.html#${tableAnchor(s)}">${esc(s)}</a>`).join(', ')} → <code>${esc(file.origin)}</code> (sha256 ${esc(file.sqlHash.slice(0, 12))}) → lake <code>${esc(t.name)}</code> → warehouse <code>${esc(t.name)}</code>` +
          `${view ? ` · current-state view <code>${esc(view.name)}</code>` : ''}</p>` +
          `<p class="muted">Key: (${t.key.map(esc).join(', ')}). Model: <code>sql/transform/${esc(t.name)}.yml</code>. Data tests, run on every batch before it is published: ` +
          `${[...dataTests().filter((d) => d.table === t.name).map((d) => d.name), ...(t.versionsOf ? [`one row per version of ${t.versionsOf} extracted`] : [])].map((n) => `<code>${esc(n)}</code>`).join(', ')}.</p>` +
          `<table class="cols"><thead><tr><th>column</th><th>lake type (Athena/Trino)</th><th>warehouse type</th><th>nullable</th><th>description</th></tr></thead><tbody>${[...rows, ...extra].join('')}</tbody></table></section>`
        );
      })
      .join('')
  );
}

function rawTablesPage(model: DocsModel): string {
  return (
    `<p>Every row version the extract reads lands in <code>raw_&lt;table&gt;</code> (gzip NDJSON, Hive partition <code>dt</code>, plus <code>_batch_id</code>); <code>current_&lt;table&gt;</code> is the compacted latest version of each row after the newest batch.</p>` +
    model.sourceTables
      .map((t) => {
        const rows = model.lake.versions[t.name] ?? 0;
        return (
          `<section class="card" id="${tableAnchor(t.name)}"><h3>${esc(t.name)} <span class="muted">→ raw_${esc(t.name)}, current_${esc(t.name)}</span></h3><p>${esc(t.description)} <span class="muted">Primary key ${esc(t.primaryKey)}; ${rows.toLocaleString('en-GB')} row versions in the lake.</span></p>` +
          `<table class="cols"><thead><tr><th>column</th><th>totesys type</th><th>lake type</th><th>nullable</th><th>description</th></tr></thead><tbody>` +
          t.columns.map((c) => `<tr><td><code>${esc(c.name)}</code></td><td><code>${esc(postgresDataType(c.type))}</code></td><td><code>${esc(trinoType(c.type))}</code></td><td>${c.nullable ? 'yes' : 'no'}</td><td>${esc(c.description)}</td></tr>`).join('') +
          `</tbody></table></section>`
        );
      })
      .join('')
  );
}

function lineagePage(model: DocsModel): string {
  const { reads } = lineageOf(model.sqlFiles);
  return (
    `<p>From each totesys table through the lake and the SQL file that builds each star table, to the warehouse table it loads into. Hover an edge for its meaning.</p>` +
    lineageDiagram(model.sqlFiles, (name) => name) +
    problems(model) +
    `<table class="cols" id="lineage-table"><thead><tr><th>source tables</th><th>SQL file</th><th>star table (lake)</th><th>warehouse table</th></tr></thead><tbody>` +
    model.sqlFiles
      .map((f) => `<tr><td>${(reads[f.table.name] ?? []).map(esc).join(', ')}</td><td><code>${esc(f.origin)}</code></td><td><a href="tables.html#${tableAnchor(f.table.name)}">${esc(f.table.name)}</a></td><td>${esc(f.table.name)}</td></tr>`)
      .join('') +
    `</tbody></table>`
  );
}

function historyPage(model: DocsModel): string {
  // A lake with batches, none of them in the window: the charts say so, not that there is no data.
  const quiet = model.lake.batches ? (what: string) => `No ${what} in the last ${windowOf(model)}: a longer --history shows earlier ones.` : () => undefined;
  const rowsPerBatch = barChart(
    'chart-rows-per-batch',
    `Row versions extracted per batch in the last ${windowOf(model)} (hover a bar for the per-table counts)`,
    model.batches.map((b) => {
      const total = Object.values(b.rows).reduce((s, n) => s + n, 0);
      const detail = Object.entries(b.rows).filter(([, n]) => n > 0).map(([t, n]) => `${t} ${n}`).join(', ');
      return { label: `#${b.seq}`, segments: [{ value: total, color: '#0ea5e9', title: `batch ${b.batchId}: ${total} rows (${detail})` }] };
    }),
    'rows',
    quiet('batch'),
  );
  const freshness = lineChart(
    'chart-freshness',
    `Freshness at the end of each run in the last ${windowOf(model)} (now − the source instant the warehouse reflects); dashed: the SLA (${formatAge(model.slaSeconds)})`,
    model.runs.filter((r) => r.freshness).map((r) => ({
      x: Date.parse(r.finishedAt),
      y: r.freshness!.seconds / 60,
      title: `${r.finishedAt}: ${formatAge(r.freshness!.seconds)} (${r.outcome}${r.batchId ? `, ${r.batchId}` : ''})`,
      color: r.freshness!.seconds > model.slaSeconds ? '#dc2626' : '#2563eb',
    })),
    'minutes',
    { value: model.slaSeconds / 60, label: `SLA ${formatAge(model.slaSeconds)}` },
    undefined,
    quiet('run'),
  );
  const colors = { extract: '#8b5cf6', transform: '#22c55e', load: '#f59e0b' } as const;
  const durations = barChart(
    'chart-stage-durations',
    `Stage durations per run in the last ${windowOf(model)}, seconds (violet extract, green transform, amber load)`,
    model.runs.map((r, i) => ({
      label: `${i + 1}`,
      segments: (['extract', 'transform', 'load'] as const).map((s) => ({ value: (r.stages[s]?.elapsedMs ?? 0) / 1000, color: colors[s], title: `${r.startedAt} ${s}: ${((r.stages[s]?.elapsedMs ?? 0) / 1000).toFixed(2)} s` })),
    })),
    'seconds',
    quiet('run'),
  );
  const runs = [...model.runs].reverse().slice(0, 50);
  const table = runs.length
    ? `<table class="cols" id="runs-table"><thead><tr><th>started (UTC)</th><th>outcome</th><th>batch</th><th>rows</th><th>extract</th><th>transform</th><th>load</th><th>freshness</th><th>data tests</th></tr></thead><tbody>${runs
        .map((r) => {
          const rows = Object.values(r.stages.extract?.rows ?? {}).reduce((a, b) => a + b, 0);
          const s = (x?: { elapsedMs: number }) => (x ? `${(x.elapsedMs / 1000).toFixed(2)} s` : '—');
          const tests = r.dataTests ? `${r.dataTests.filter((t) => t.passed).length}/${r.dataTests.length}` : '—';
          const outcome = r.outcome === 'failed' ? `<span class="bad">failed in ${esc(r.failure?.stage)}</span><br><span class="muted">${esc(r.failure?.error)}</span>` : `<span class="ok">${esc(r.outcome)}</span>`;
          return `<tr><td>${esc(r.startedAt.replace('T', ' ').slice(0, 19))}</td><td>${outcome}</td><td><code>${esc(r.batchId ?? '—')}</code></td><td>${rows.toLocaleString('en-GB')}</td><td>${s(r.stages.extract)}</td><td>${s(r.stages.transform)}</td><td>${s(r.stages.load)}</td><td>${r.freshness ? esc(formatAge(r.freshness.seconds)) : '—'}</td><td>${tests}</td></tr>`;
        })
        .join('')}</tbody></table>`
    : `<p class="muted">No run in the last ${esc(windowOf(model))}: every <code>totes run</code> cycle records one.</p>`;
  return `<h3>Rows per batch</h3>${rowsPerBatch}<h3>Freshness over time</h3>${freshness}<h3>Stage durations</h3>${durations}<h3>Latest runs</h3>${table}`;
}

function analysisPage(model: DocsModel): string {
  const views = model.views
    .map((v) => `<section class="card" id="view-${esc(v.name)}"><h3>${esc(v.name)}</h3><p>Latest version of each row of <a href="tables.html#${tableAnchor(v.fact)}">${esc(v.fact)}</a>: in the warehouse (migration), the lake (<code>totes query</code>) and Athena.</p><pre>${esc(v.sql)}</pre></section>`)
    .join('');
  const queries = model.analysis
    .map((q) => `<section class="card" id="query-${esc(q.file.replace(/^.*\//, '').replace('.sql', ''))}"><h3><code>${esc(q.file)}</code></h3><pre>${esc(q.sql)}</pre></section>`)
    .join('');
  return `<h3>Current-state views</h3>${views}<h3>Business queries (<code>sql/analysis/</code>)</h3><p>Each runs unchanged on the warehouse (PostgreSQL), the lake (<code>totes query "$(cat FILE)"</code>) and Athena (Trino).</p>${queries}`;
}

