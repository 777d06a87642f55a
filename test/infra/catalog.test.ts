import { BATCH_ID_COLUMN, glueType, SOURCE_TABLES } from '../../functions/core/contract/source-tables';
import { LINEAGE_COLUMNS, STAR_TABLES, starGlueType, versionsTableName } from '../../functions/core/contract/star-tables';

/** The Glue table holding a star table's data: its own name, or a by-key dimension's versions table. */
// A by-key dimension's table is its versions, a fact's its batches (the names themselves are Athena views the transform keeps).
const glueName = (t: { name: string; kind: string; byKey?: boolean }) => (t.kind === 'dimension' && t.byKey ? versionsTableName(t.name) : t.kind === 'fact' ? `${t.name}_batches` : t.name);
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSqlFile } from '../../functions/core/transform/sql-files';
import { synthesizeStack } from './synthesized-stack';

/** The Glue catalog of the synthesized stack must be exactly the table and star contracts. */
const s = synthesizeStack();
const tables = Object.values(s.resources('aws_glue_catalog_table'));
const databases = s.resources('aws_glue_catalog_database');
const dbRef = (suffix: string) => s.ref('aws_glue_catalog_database', s.idOf('aws_glue_catalog_database', (d) => String(d.name).endsWith(suffix)), 'name');
const ingestion = s.ref('aws_s3_bucket', s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-ingestion-')), 'bucket');
const processed = s.ref('aws_s3_bucket', s.idOf('aws_s3_bucket', (b) => String(b.bucket_prefix).endsWith('-processed-')), 'bucket');

it('has a raw and a processed database', () => {
  expect(Object.values(databases).map((d) => d.name).sort()).toEqual([
    '${replace(var.name_prefix, "-", "_")}_processed',
    '${replace(var.name_prefix, "-", "_")}_raw',
  ]);
});

describe('raw tables', () => {
  const raw = tables.filter((t) => t.database_name === dbRef('_raw'));

  it('are the contract tables, named raw_<table>', () => {
    expect(raw.map((t) => t.name).sort()).toEqual(SOURCE_TABLES.map((t) => `raw_${t.name}`).sort());
  });

  it.each(SOURCE_TABLES.map((t) => [t.name, t] as const))('raw_%s has the contract columns, gzip NDJSON and dt projection', (name, table) => {
    const t = raw.find((r) => r.name === `raw_${name}`)!;
    expect(t.storage_descriptor.columns).toEqual([
      ...table.columns.map((c) => ({ name: c.name, type: glueType(c.type), comment: c.description })),
      { name: BATCH_ID_COLUMN, type: 'string', comment: expect.any(String) },
    ]);
    expect(t.storage_descriptor.ser_de_info.serialization_library).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(t.storage_descriptor.location).toBe(`s3://${ingestion}/raw/${name}/`);
    expect(t.partition_keys).toEqual([expect.objectContaining({ name: 'dt', type: 'string' })]);
    expect(t.parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': '${var.raw_partition_start_date},NOW',
      compressionType: 'gzip',
      // `$${dt}` reaches Glue as the literal `${dt}` Athena fills in.
      'storage.location.template': `s3://${ingestion}/raw/${name}/dt=$\${dt}/`,
    });
  });
});

describe('star tables', () => {
  const star = tables.filter((t) => t.database_name === dbRef('_processed'));

  it('are the star contract tables', () => {
    expect(star.map((t) => t.name).sort()).toEqual(STAR_TABLES.map(glueName).sort());
  });

  it.each(STAR_TABLES.map((t) => [glueName(t), t] as const))('%s is Parquet with the contract and lineage columns', (name, table) => {
    const t = star.find((r) => r.name === name)!;
    expect(t.storage_descriptor.columns.map((c: { name: string; type: string }) => [c.name, c.type])).toEqual([
      ...table.columns.map((c) => [c.name, starGlueType(c.type)]),
      ...LINEAGE_COLUMNS.map((c) => [c, 'string']),
    ]);
    expect(t.storage_descriptor.ser_de_info.serialization_library).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
    expect(t.parameters['projection.enabled']).toBeUndefined();
    if (table.kind === 'fact' || table.byKey) {
      // A fact, or a by-key dimension's base and change sets (the dimension itself is an Athena view).
      expect(t.partition_keys).toEqual([expect.objectContaining({ name: 'batch_id', type: 'string' })]);
      expect(t.storage_descriptor.location).toBe(`s3://${processed}/star/${table.kind === 'fact' ? table.name : name}/`);
      expect(t.lifecycle.ignore_changes).toEqual(['parameters']);
      // Analysts are told to query the view and filter on the month (issue 15).
      if (table.kind === 'fact') expect(t.description).toMatch(new RegExp(`Query the view ${table.name}, .* filter on created_month`));
    } else {
      expect(t.partition_keys).toBeUndefined();
      // The pipeline repoints a dimension every batch; Terraform must not move it back.
      expect(t.lifecycle.ignore_changes).toEqual(['storage_descriptor[0].location', 'parameters']);
    }
  });
});

describe('a catalog a person can browse', () => {
  const nonEmpty = (text: unknown) => typeof text === 'string' && text.trim().length > 0;

  it('every table carries a description, every column and partition key a comment', () => {
    expect(tables).toHaveLength(SOURCE_TABLES.length + STAR_TABLES.length);
    for (const t of tables) {
      expect([t.name, nonEmpty(t.description)]).toEqual([t.name, true]);
      expect(t.description.length).toBeLessThanOrEqual(2048);
      for (const c of [...t.storage_descriptor.columns, ...(t.partition_keys ?? [])]) expect([t.name, c.name, nonEmpty(c.comment)]).toEqual([t.name, c.name, true]);
    }
  });

  it('raw tables are described by the table contract, star tables by the star contract and their SQL file header', () => {
    for (const table of SOURCE_TABLES) expect(tables.find((t) => t.name === `raw_${table.name}`)!.description).toContain(table.description);
    for (const table of STAR_TABLES) {
      const file = parseSqlFile(table, readFileSync(path.join(__dirname, '..', '..', 'sql', 'transform', `${table.name}.sql`)));
      const description: string = tables.find((t) => t.name === glueName(table))!.description;
      if (table.byKey) {
        expect(description).toMatch(new RegExp(`^Versions of ${table.name}: .* Query the view ${table.name} .* Built by sql/transform/${table.name}.sql\\.$`));
        continue;
      }
      expect(description.startsWith(table.description)).toBe(true);
      expect(description).toContain(`Built by sql/transform/${table.name}.sql: ${table.name}: ${file.description}`);
    }
  });

  it('column comments are the contracts\' descriptions', () => {
    for (const table of STAR_TABLES) {
      const t = tables.find((r) => r.name === glueName(table))!;
      expect(t.storage_descriptor.columns.slice(0, table.columns.length).map((c: { comment: string }) => c.comment)).toEqual(table.columns.map((c) => c.description));
    }
  });
});
