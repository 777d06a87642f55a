import { GlueCatalogTable } from '@cdktf/provider-aws/lib/glue-catalog-table';
import { Construct } from 'constructs';
import { BATCH_ID_COLUMN, glueType, SOURCE_TABLES } from '../../functions/core/contract/source-tables';
import { rawPrefix } from '../../functions/core/lake/lake-layout';

export const JSON_SERDE = 'org.openx.data.jsonserde.JsonSerDe';

export interface RawGlueTablesProps {
  databaseName: string;
  ingestionBucket: string;
  /** First projected `dt` partition, YYYY-MM-DD. */
  partitionStartDate: string;
}

/**
 * One Glue table `raw_<table>` per table of the contract, over `raw/<table>/dt=YYYY-MM-DD/` in the
 * ingestion bucket (gzip NDJSON, OpenX JSON SerDe).
 *
 * Partitions are projected (`dt` is a date from the start variable to NOW) rather than registered:
 * the extract never calls Glue, a new day is queryable at once, and Athena prunes by `dt` without a
 * partition lookup. Columns, types and comments come from the table contract plus the batch id each
 * row carries, so the catalog cannot drift from what the extract writes.
 */
export class RawGlueTables extends Construct {
  readonly tables: GlueCatalogTable[];

  constructor(scope: Construct, id: string, props: RawGlueTablesProps) {
    super(scope, id);
    this.tables = SOURCE_TABLES.map((table) => {
      const location = `s3://${props.ingestionBucket}/${rawPrefix(table.name)}`;
      return new GlueCatalogTable(this, table.name, {
        databaseName: props.databaseName,
        name: `raw_${table.name}`,
        description: `${table.description} Every extracted row version, as gzip NDJSON (raw/${table.name}/dt=YYYY-MM-DD/<batch_id>.ndjson.gz). Filter on dt (the UTC extract date, 'YYYY-MM-DD') so a query opens only those days: dt is a projected partition, last_updated is not.`,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          EXTERNAL: 'TRUE',
          classification: 'json',
          compressionType: 'gzip',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${props.partitionStartDate},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          // `$${dt}` is Terraform's escape for the literal `${dt}` Athena substitutes per partition.
          'storage.location.template': `${location}dt=$\${dt}/`,
        },
        partitionKeys: [{ name: 'dt', type: 'string', comment: 'UTC date the batch was extracted, YYYY-MM-DD: the partition to filter on.' }],
        storageDescriptor: {
          location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serDeInfo: {
            name: 'json',
            serializationLibrary: JSON_SERDE,
            parameters: { 'ignore.malformed.json': 'FALSE', 'case.insensitive': 'TRUE' },
          },
          columns: [
            ...table.columns.map((c) => ({ name: c.name, type: glueType(c.type), comment: c.description })),
            { name: BATCH_ID_COLUMN, type: 'string', comment: 'Batch that extracted this row version.' },
          ],
        },
      });
    });
  }
}
