import { GlueCatalogDatabase } from '@cdktf/provider-aws/lib/glue-catalog-database';
import { Fn } from 'cdktf';
import { Construct } from 'constructs';
import { RawGlueTables } from './raw-glue-tables';
import { StarGlueTables } from './star-glue-tables';

export interface LakeCatalogProps {
  namePrefix: string;
  ingestionBucket: string;
  processedBucket: string;
  rawPartitionStartDate: string;
}

/**
 * The Glue catalog of the lake: a raw database (one projected table per source table) and a
 * processed database (the star tables here; the transform adds its current-state and staging
 * tables there at run time). Names use underscores: Athena identifiers cannot contain hyphens.
 */
export class LakeCatalog extends Construct {
  readonly rawDatabase: GlueCatalogDatabase;
  readonly processedDatabase: GlueCatalogDatabase;
  readonly rawTables: RawGlueTables;
  readonly starTables: StarGlueTables;

  constructor(scope: Construct, id: string, props: LakeCatalogProps) {
    super(scope, id);
    const base = Fn.replace(props.namePrefix, '-', '_');
    this.rawDatabase = new GlueCatalogDatabase(this, 'raw', {
      name: `${base}_raw`,
      description: 'Totes Lake raw layer: every row version extracted from totesys, as gzip NDJSON (partition projection on dt).',
    });
    this.processedDatabase = new GlueCatalogDatabase(this, 'processed', {
      name: `${base}_processed`,
      description: 'Totes Lake processed layer: the Parquet star schema, plus current-state and staging tables the transform manages.',
    });
    this.rawTables = new RawGlueTables(this, 'raw-tables', {
      databaseName: this.rawDatabase.name,
      ingestionBucket: props.ingestionBucket,
      partitionStartDate: props.rawPartitionStartDate,
    });
    this.starTables = new StarGlueTables(this, 'star-tables', {
      databaseName: this.processedDatabase.name,
      processedBucket: props.processedBucket,
    });
  }
}
