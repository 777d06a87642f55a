import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STAR_TABLE_NAMES, starTable } from '../../../functions/core/contract/star-tables';
import { loadSqlFiles, parseSqlFile } from '../../../functions/core/transform/sql-files';

const REPO_ROOT = path.resolve(__dirname, '../../..');

describe('loadSqlFiles', () => {
  it('loads one file per star table, dimensions before facts, hashed and described', async () => {
    const files = await loadSqlFiles(REPO_ROOT);
    expect(files.map((f) => f.table.name).sort()).toEqual([...STAR_TABLE_NAMES].sort());
    const kinds = files.map((f) => f.table.kind);
    expect(kinds.indexOf('fact')).toBe(kinds.filter((k) => k === 'dimension').length);
    expect(kinds.lastIndexOf('dimension')).toBeLessThan(kinds.indexOf('fact'));
    for (const file of files) {
      const bytes = await readFile(path.join(REPO_ROOT, file.origin));
      expect(file.sqlHash).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(file.origin).toBe(`sql/transform/${file.table.name}.sql`);
      expect(file.description.length).toBeGreaterThan(10);
      expect(file.header).toMatch(/Grain:/);
      expect(file.header).toMatch(/Sources:/);
      expect(file.header).toMatch(file.table.kind === 'fact' ? /Incremental/ : /Rebuilt whole/);
      if (file.table.byKey) expect(file.header).toMatch(/by key/);
    }
  });

  describe('with a damaged folder', () => {
    let root: string;
    beforeEach(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'totes-sql-'));
      await mkdir(path.join(root, 'sql', 'transform'), { recursive: true });
      for (const name of STAR_TABLE_NAMES) {
        await copyFile(path.join(REPO_ROOT, 'sql', 'transform', `${name}.sql`), path.join(root, 'sql', 'transform', `${name}.sql`));
      }
    });
    afterEach(async () => rm(root, { recursive: true, force: true }));

    it('fails naming a missing file', async () => {
      await unlink(path.join(root, 'sql', 'transform', 'dim_staff.sql'));
      await expect(loadSqlFiles(root)).rejects.toThrow(/missing: dim_staff\.sql/);
    });

    it('fails naming a file the contract does not know', async () => {
      await writeFile(path.join(root, 'sql', 'transform', 'dim_colour.sql'), '-- dim_colour: colours\nSELECT 1');
      await expect(loadSqlFiles(root)).rejects.toThrow(/not in the contract: dim_colour\.sql/);
    });

    it('fails when sqlRoot has no sql/transform folder', async () => {
      await expect(loadSqlFiles(path.join(root, 'nowhere'))).rejects.toThrow(/Cannot read the transform SQL folder/);
    });
  });
});

describe('parseSqlFile', () => {
  it('requires a header naming the table', () => {
    expect(() => parseSqlFile(starTable('dim_design'), Buffer.from('SELECT 1'))).toThrow(/-- dim_design: <what it builds>/);
    expect(() => parseSqlFile(starTable('dim_design'), Buffer.from('-- dim_location: x\nSELECT 1'))).toThrow(/dim_design/);
  });

  it('takes the description from the first header line and hashes the exact bytes', () => {
    const file = parseSqlFile(starTable('dim_design'), Buffer.from('-- dim_design: every design.\n-- Grain: design.\nSELECT design_id FROM current_design\n'));
    expect(file.description).toBe('every design.');
    expect(file.header).toBe('dim_design: every design.\nGrain: design.');
    expect(file.sqlHash).toBe(createHash('sha256').update('-- dim_design: every design.\n-- Grain: design.\nSELECT design_id FROM current_design\n').digest('hex'));
  });
});

describe('fact files', () => {
  // The transform skips a fact whose sources have no rows in a batch (transform.ts): sound only if a
  // fact maps each source version to at most one row, so an empty batch gives no rows.
  it('map each source version to at most one row: no aggregate, GROUP BY, window or join', async () => {
    for (const table of STAR_TABLE_NAMES.map(starTable).filter((t) => t.kind === 'fact')) {
      const sql = (await readFile(path.join(REPO_ROOT, 'sql', 'transform', `${table.name}.sql`), 'utf8')).replace(/--.*$/gm, '');
      expect({ table: table.name, found: sql.match(/\bgroup\s+by\b|\b(count|sum|avg|min|max|array_agg|string_agg|listagg)\s*\(|\bover\s*\(|\bjoin\b/gi) }).toEqual({ table: table.name, found: null });
    }
  });
});

describe('declared sources', () => {
  // A dimension is carried forward unchanged when none of its declared sources changed in a batch
  // (transform.ts): that is sound only if its SQL reads exactly those tables, as current_* (the
  // whole state) or batch_* (the batch's versions: facts, and dim_date, which extends its calendar).
  it('every star SQL file reads exactly the current_/batch_ tables its star contract declares', async () => {
    for (const name of STAR_TABLE_NAMES) {
      const table = starTable(name);
      const sql = (await readFile(path.join(REPO_ROOT, 'sql', 'transform', `${name}.sql`), 'utf8')).replace(/--.*$/gm, '');
      const read = [...new Set([...sql.matchAll(/\b(?:batch|current)_([a-z_]+)/g)].map((m) => m[1]))].sort();
      expect({ table: table.name, read }).toEqual({ table: table.name, read: [...table.sources].sort() });
    }
  });
});
