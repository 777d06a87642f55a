import type { Column, StorageDescriptor, TableInput } from '@aws-sdk/client-glue';
import { BATCH_ID_COLUMN, glueType, SOURCE_TABLE_NAMES, sourceTable, type SourceTableName } from '../core/contract/source-tables';
import { byKeyDimensions, LINEAGE_COLUMNS, starGlueType, starTable, STAR_TABLE_NAMES, versionsTableName } from '../core/contract/star-tables';

/**
 * Glue table definitions generated from the table and star contracts, so a person browsing the
 * catalog sees every table and column described, and which batch and SQL built the data.
 *
 * Used by `glue-catalog.ts` (to create a processed table cdktf has not) and `engines/athena/relations.ts`
 * (staged tables); the same shapes serve the cdktf stack.
 */

/** Table/partition parameters naming the batch and the SQL content hash that built the data. */
export const PARAM_BATCH_ID = 'totes.batch_id';
export const PARAM_SQL_HASH = 'totes.sql_hash';

/** Hive partition key of fact tables: one partition per batch (`batch_id=<id>/`). */
export const FACT_PARTITION_KEY = 'batch_id';

const PARQUET = {
  InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe', Parameters: { 'serialization.format': '1' } },
} as const;

const LINEAGE_COMMENTS: Record<(typeof LINEAGE_COLUMNS)[number], string> = {
  _batch_id: 'Batch whose transform wrote this row.',
  _sql_hash: 'Content hash of the SQL that built this row.',
};

export function parquetStorage(columns: Column[], location: string): StorageDescriptor {
  return { Columns: columns, Location: location, ...PARQUET, SerdeInfo: { ...PARQUET.SerdeInfo, Parameters: { ...PARQUET.SerdeInfo.Parameters } } };
}

/** Whether a name is a processed table the catalog may create: a star table, a by-key dimension's versions, or `current_<source table>`. */
export function isProcessedTable(name: string): boolean {
  return (STAR_TABLE_NAMES as readonly string[]).includes(name) || versionsOf(name) !== undefined || currentSource(name) !== undefined;
}

/** The by-key dimension whose versions table (`<dim>_versions`) this is, if it is one. */
export function versionsOf(name: string): string | undefined {
  return byKeyDimensions().find((d) => versionsTableName(d.name) === name)?.name;
}

function currentSource(name: string): SourceTableName | undefined {
  const m = /^current_(.+)$/.exec(name);
  return m && (SOURCE_TABLE_NAMES as readonly string[]).includes(m[1]) ? (m[1] as SourceTableName) : undefined;
}

/** Columns a processed table stores, with descriptions: contract columns, then lineage. */
export function processedColumns(name: string): Column[] {
  const source = currentSource(name);
  if (source) {
    const contract = sourceTable(source);
    return [
      ...contract.columns.map((c) => ({ Name: c.name, Type: glueType(c.type), Comment: c.description })),
      { Name: BATCH_ID_COLUMN, Type: 'string', Comment: 'Batch that extracted this row version.' },
      { Name: '_sql_hash', Type: 'string', Comment: LINEAGE_COMMENTS._sql_hash },
    ];
  }
  const star = starTable(versionsOf(name) ?? name);
  return [
    ...star.columns.map((c) => ({ Name: c.name, Type: starGlueType(c.type), Comment: c.description })),
    ...LINEAGE_COLUMNS.map((n) => ({ Name: n, Type: 'string', Comment: LINEAGE_COMMENTS[n] })),
  ];
}

/**
 * The Glue definition of a processed table (Parquet): a star table from the star contract, or a
 * current-state table `current_<source>` from the table contract. Facts are partitioned by batch.
 */
export function processedTableInput(name: string, location: string, built?: { batchId: string; sqlHash: string }): TableInput {
  const source = currentSource(name);
  const dimension = versionsOf(name);
  const star = source ? undefined : starTable(dimension ?? name);
  const description = source
    ? `Current state of totesys ${source}: the latest version of every row, rebuilt by each batch. ${sourceTable(source).description}`
    : dimension
      ? versionsTableDescription(dimension)
      : `${star!.description} Built by sql/transform/${name}.sql.`;
  return {
    Name: name,
    Description: description,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      'parquet.compression': 'ZSTD',
      ...(built ? { [PARAM_BATCH_ID]: built.batchId, [PARAM_SQL_HASH]: built.sqlHash } : {}),
    },
    StorageDescriptor: parquetStorage(processedColumns(name), location),
    PartitionKeys:
      star?.kind === 'fact' || dimension
        ? [{ Name: FACT_PARTITION_KEY, Type: 'string', Comment: dimension ? 'Batch that wrote this base or change set.' : 'Batch that appended these row versions.' }]
        : [],
  };
}

/** What the catalog says of a by-key dimension's versions table (functions/core/transform/dimension-by-key.ts). */
export function versionsTableDescription(dimension: string): string {
  return (
    `Versions of ${dimension}: its base (the last whole build) and the change sets of the batches since, one partition batch_id=<batch> each. ` +
    `Query the view ${dimension} (the latest row per key, greatest _batch_id), not this table. Built by sql/transform/${dimension}.sql.`
  );
}

/**
 * The Glue definition of a raw table `raw_<table>`: gzip NDJSON read by the OpenX JSON SerDe,
 * partitioned by `dt` with partition projection (no crawler, no MSCK REPAIR).
 */
export function rawTableInput(table: SourceTableName, location: string, firstDate: string): TableInput {
  const contract = sourceTable(table);
  return {
    Name: `raw_${table}`,
    Description: `Raw totesys ${table} row versions as extracted, one gzip NDJSON file per batch. ${contract.description}`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      classification: 'json',
      EXTERNAL: 'TRUE',
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': `${firstDate},NOW`,
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
    },
    StorageDescriptor: {
      Columns: [
        ...contract.columns.map((c) => ({ Name: c.name, Type: glueType(c.type), Comment: c.description })),
        { Name: BATCH_ID_COLUMN, Type: 'string', Comment: 'Batch that extracted this row version.' },
      ],
      Location: location,
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', Parameters: { 'ignore.malformed.json': 'false' } },
    },
    PartitionKeys: [{ Name: 'dt', Type: 'string', Comment: 'UTC date the batch was extracted (YYYY-MM-DD).' }],
  };
}
