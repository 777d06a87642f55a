import { GlueCatalogTable } from '@cdktf/provider-aws/lib/glue-catalog-table';
import { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LINEAGE_COLUMNS, STAR_TABLES, starGlueType, versionsTableName, type StarTable } from '../../functions/core/contract/star-tables';
import { versionsTableDescription } from '../../functions/aws/glue-table-input';
import { baseBatchesTableName } from '../../functions/aws/fact-view';
import { FACT_MONTH_COLUMN } from '../../functions/core/lake/lake-layout';
import { factTablePrefix } from '../../functions/core/lake/lake-layout';
import { parseSqlFile, SQL_TRANSFORM_DIR } from '../../functions/core/transform/sql-files';

export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

const LINEAGE_COMMENTS: Record<(typeof LINEAGE_COLUMNS)[number], string> = {
  _batch_id: 'Batch whose transform wrote this row.',
  _sql_hash: 'Content hash of the SQL that built this row.',
};

/** Glue's limit on a table description. */
const MAX_DESCRIPTION = 2048;

/**
 * What a person browsing the catalog reads about a star table: the contract's description, how
 * the table grows, and the header of the SQL file that builds it (what, grain, incremental or
 * rebuilt, sources), read from sql/transform/ at synth time so the two cannot drift.
 */
export function starTableDescription(table: StarTable, repoRoot = path.resolve(__dirname, '..', '..')): string {
  const file = parseSqlFile(table, readFileSync(path.join(repoRoot, SQL_TRANSFORM_DIR, `${table.name}.sql`)));
  const growth =
    table.kind === 'fact'
      ? `The batches of the view ${table.name}: one partition batch_id=<batch> per transformed batch not compacted by month yet. Query the view ${table.name}, which adds the compacted months: filter on ${FACT_MONTH_COLUMN} (the month of created_date, 'YYYY-MM') to read only those months; the ${table.name}_current view gives the latest version of each row.`
      : 'Rebuilt each batch; the location moves to the newest rebuild.';
  const text = `${table.description} ${growth} Built by ${file.origin}: ${file.header.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}`;
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}

export interface StarGlueTablesProps {
  databaseName: string;
  processedBucket: string;
}

/**
 * The 11 star tables of the contract as Parquet tables in the processed database.
 *
 * A fact's batches are the table `<fact>_batches`, partitioned by `batch_id`; the transform registers
 * each batch's partition itself (no projection: the batch ids are not enumerable). The fact's own
 * name is an Athena view over its compacted months and these batches, which the transform's Glue
 * catalog creates with the first batch and switches at each compaction or backfill
 * (functions/aws/fact-view.ts, glue-catalog.ts): not a Terraform resource, so no deploy reverts a
 * switch (a view here would need its text, columns and parameters all ignored, leaving Terraform
 * nothing to manage). Dimensions are unpartitioned and the transform
 * repoints their location to each rebuild, so Terraform creates them once and then ignores their
 * location and parameters; otherwise every `cdktf deploy` would roll the catalog back to an empty
 * prefix. A by-key dimension (dim_transaction) is kept as base + deltas
 * (functions/core/transform/dimension-by-key.ts): its table is `<dim>_versions`, partitioned by
 * `batch_id` like a fact (the transform adds the base and each change set, and drops superseded
 * ones), and the dimension's own name is the Athena view merging them, which the transform creates
 * (functions/aws/athena-current-views.ts).
 */
export class StarGlueTables extends Construct {
  readonly tables: GlueCatalogTable[];

  constructor(scope: Construct, id: string, props: StarGlueTablesProps) {
    super(scope, id);
    this.tables = STAR_TABLES.map((table) => {
      const versions = table.kind === 'dimension' && table.byKey;
      // Partitioned by batch: a fact, or a by-key dimension's versions.
      const isFact = table.kind === 'fact' || versions;
      const name = versions ? versionsTableName(table.name) : table.kind === 'fact' ? baseBatchesTableName(table.name) : table.name;
      return new GlueCatalogTable(this, name, {
        databaseName: props.databaseName,
        name,
        description: versions ? versionsTableDescription(table.name) : starTableDescription(table),
        tableType: 'EXTERNAL_TABLE',
        parameters: { EXTERNAL: 'TRUE', classification: 'parquet', 'parquet.compression': 'SNAPPY' },
        partitionKeys: isFact
          ? [{ name: 'batch_id', type: 'string', comment: versions ? 'Batch that wrote this base or change set.' : 'Batch whose new row versions the partition holds.' }]
          : undefined,
        storageDescriptor: {
          // A dimension starts on an empty prefix (its rebuilds live beside it, not under it); a
          // versions table's partitions point at the base and change sets wherever they are.
          location: `s3://${props.processedBucket}/${factTablePrefix(table.kind === 'fact' ? table.name : name)}${isFact ? '' : '_unpublished/'}`,
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serDeInfo: { name: 'parquet', serializationLibrary: PARQUET_SERDE, parameters: { 'serialization.format': '1' } },
          columns: [
            ...table.columns.map((c) => ({ name: c.name, type: starGlueType(c.type), comment: c.description })),
            ...LINEAGE_COLUMNS.map((name) => ({ name, type: 'string', comment: LINEAGE_COMMENTS[name] })),
          ],
        },
        // The pipeline owns a dimension's location and may stamp parameters (lineage, statistics).
        lifecycle: { ignoreChanges: isFact ? ['parameters'] : ['storage_descriptor[0].location', 'parameters'] },
      });
    });
  }
}
