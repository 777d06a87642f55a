import type { TableInput } from '@aws-sdk/client-glue';
import { TerraformStack, Testing } from 'cdktf';
import { RawGlueTables } from '../../cdktf/catalog/raw-glue-tables';
import { StarGlueTables } from '../../cdktf/catalog/star-glue-tables';

/** The raw and star Glue tables exactly as the stack declares them (its constructs, synthesized), as Glue API input. */
export function stackGlueTables(names: { rawDatabase: string; processedDatabase: string; ingestionBucket: string; processedBucket: string }): { database: string; input: TableInput }[] {
  const stack = new TerraformStack(Testing.app(), 'glue-tables');
  new RawGlueTables(stack, 'raw', { databaseName: names.rawDatabase, ingestionBucket: names.ingestionBucket, partitionStartDate: '2024-01-01' });
  new StarGlueTables(stack, 'star', { databaseName: names.processedDatabase, processedBucket: names.processedBucket });
  const tf = JSON.parse(Testing.synth(stack)) as { resource: { aws_glue_catalog_table: Record<string, TfTable> } };
  return Object.values(tf.resource.aws_glue_catalog_table).map((t) => {
    const sd = t.storage_descriptor;
    const column = (c: TfColumn) => ({ Name: c.name, Type: c.type, Comment: c.comment });
    return {
      database: t.database_name,
      input: {
        Name: t.name,
        Description: t.description,
        TableType: t.table_type,
        // Terraform reads `$${x}` as the literal `${x}`.
        Parameters: Object.fromEntries(Object.entries(t.parameters ?? {}).map(([k, v]) => [k, v.replace(/\$\$\{/g, '${')])),
        PartitionKeys: (t.partition_keys ?? []).map(column),
        StorageDescriptor: {
          Location: sd.location,
          InputFormat: sd.input_format,
          OutputFormat: sd.output_format,
          Compressed: sd.compressed,
          SerdeInfo: { Name: sd.ser_de_info.name, SerializationLibrary: sd.ser_de_info.serialization_library, Parameters: sd.ser_de_info.parameters },
          Columns: sd.columns.map(column),
        },
      },
    };
  });
}

interface TfColumn {
  name: string;
  type: string;
  comment?: string;
}
interface TfTable {
  database_name: string;
  name: string;
  description?: string;
  table_type?: string;
  parameters?: Record<string, string>;
  partition_keys?: TfColumn[];
  storage_descriptor: {
    location: string;
    input_format: string;
    output_format: string;
    compressed?: boolean;
    ser_de_info: { name?: string; serialization_library: string; parameters?: Record<string, string> };
    columns: TfColumn[];
  };
}
