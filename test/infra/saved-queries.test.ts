import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CURRENT_VIEWS } from '../../functions/core/analysis/current-views';
import { sqlHeader } from '../../functions/core/docs/docs-model';
import { savedQueries } from '../../cdktf/query/saved-queries';
import { synthesizeStack } from './synthesized-stack';

/** What analysts find under Saved queries: the files of sql/analysis/ and the current views, in the stack's workgroup and processed database. */
const s = synthesizeStack();
const named = Object.values(s.resources('aws_athena_named_query'));
const analysisDir = path.resolve(__dirname, '..', '..', 'sql', 'analysis');
const files = readdirSync(analysisDir).filter((n) => n.endsWith('.sql')).sort();
const workgroup = s.ref('aws_athena_workgroup', s.idOf('aws_athena_workgroup', () => true), 'name');
const processedDb = s.ref('aws_glue_catalog_database', s.idOf('aws_glue_catalog_database', (d) => String(d.name).endsWith('_processed')), 'name');

it('saves every sql/analysis file with its text, byte for byte, and its header as the description', () => {
  expect(files.length).toBeGreaterThanOrEqual(4);
  for (const file of files) {
    const text = readFileSync(path.join(analysisDir, file), 'utf8');
    const q = named.find((n) => n.name === `totes: ${file.replace(/\.sql$/, '')}`);
    expect(q).toBeDefined();
    expect(q!.query).toBe(text);
    expect(q!.description).toContain(sqlHeader(text).split('\n')[0].trim());
    expect(q!.description).toContain(`sql/analysis/${file}`);
  }
});

it('saves one query per current view, reading the view', () => {
  for (const view of CURRENT_VIEWS) {
    const q = named.find((n) => n.name === `totes: ${view.name}`);
    expect(q).toBeDefined();
    expect(q!.query).toMatch(new RegExp(`FROM ${view.name}\\b`));
    expect(q!.query).toMatch(/WHERE created_date >= /);
  }
});

it('runs every saved query in the pipeline workgroup and the processed database, and nothing else is saved', () => {
  expect(named).toHaveLength(files.length + CURRENT_VIEWS.length);
  for (const q of named) {
    expect(q.workgroup).toBe(workgroup);
    expect(q.database).toBe(processedDb);
    expect(String(q.description).length).toBeLessThanOrEqual(1024);
  }
});

it('follows the files: a changed or added analysis file changes the saved queries at the next synth', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'saved-queries-'));
  try {
    cpSync(analysisDir, path.join(root, 'sql', 'analysis'), { recursive: true });
    const [first] = files;
    const changed = `-- Changed header.\n${readFileSync(path.join(analysisDir, first), 'utf8')}`;
    writeFileSync(path.join(root, 'sql', 'analysis', first), changed);
    writeFileSync(path.join(root, 'sql', 'analysis', 'zz_new.sql'), '-- A new question.\nSELECT 1\n');
    const queries = savedQueries(root);
    expect(queries.find((q) => q.name === `totes: ${first.replace(/\.sql$/, '')}`)).toMatchObject({ query: changed, description: expect.stringMatching(/^Changed header\./) });
    expect(queries.find((q) => q.name === 'totes: zz_new')).toMatchObject({ query: '-- A new question.\nSELECT 1\n', description: 'A new question. (sql/analysis/zz_new.sql)' });
    expect(queries).toHaveLength(named.length + 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
