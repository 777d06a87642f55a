import type { Column, TableInput } from '@aws-sdk/client-glue';
import { FACT_PARTITION_KEY, parquetStorage } from '../../aws/glue-table-input';
import type { SourceTableName } from '../../core/contract/source-tables';
import { factTablePrefix, parseFactBatchPrefix } from '../../core/lake/lake-layout';
import { rawColumns } from '../../core/sql/relations';
import { quoteLakeIdent, stringLiteral } from '../../core/sql/sql-text';
import { rawTableName } from '../trino/relations';

/**
 * Athena's reading of the relations a statement reads (core/sql/relations.ts). Athena engine v3 is
 * Trino, so the SQL is Trino's (../trino/relations.ts, dialect `athena`); what differs is where the
 * data is registered:
 *  - raw files: the raw Glue table `raw_<t>` that cdktf deploys (partition projection on `dt`),
 *    filtered to their slices — nothing to register;
 *  - Parquet prefixes: a temporary Glue table per prefix ({@link temporaryTableInput}, metadata
 *    only), or, for several batches of one fact, one table over the fact's root with exactly those
 *    batch partitions ({@link factBatches}, an enum projection).
 */

/** Temporary Glue tables are named `totes_tmp_<run>_<n>_<relation>`, and dropped when the run ends. */
export const TEMP_PREFIX = 'totes_tmp_';

/** Table parameter marking a table as a run's temporary one (with {@link TEMP_PREFIX}, what a cleanup may drop). */
export const PARAM_TEMPORARY = 'totes.temporary';

/** Several prefixes that are batches of one fact: read as one table over the fact's root, partitioned by batch. */
export function factBatches(prefixes: readonly string[]): { root: string; batchIds: string[] } | undefined {
  if (prefixes.length < 2) return undefined;
  const facts = prefixes.map(parseFactBatchPrefix);
  const [first] = facts;
  if (!first || !facts.every((f) => f !== undefined && f.table === first.table)) return undefined;
  return { root: factTablePrefix(first.table), batchIds: facts.map((f) => f!.batchId) };
}

/**
 * The locations a Parquet relation is read from, one temporary table each: its prefixes, or the
 * fact's root once when they are several batches of one fact. `key` identifies the table within a run.
 */
export function parquetLocations(relation: { prefixes: readonly string[] }): { key: string; prefix: string }[] {
  const fact = factBatches(relation.prefixes);
  return fact ? [{ key: relation.prefixes.join('\n'), prefix: fact.root }] : relation.prefixes.map((prefix) => ({ key: prefix, prefix }));
}

/**
 * The Glue definition of a temporary table `temp` over the Parquet at `location`, with the columns
 * of the published table of the same shape (so they match what the transform wrote). With
 * `batchIds`, the table is partitioned by batch with an enum projection over exactly those batches.
 */
export function temporaryTableInput(temp: string, name: string, location: string, columns: Column[], batchIds?: readonly string[]): TableInput {
  const input: TableInput = {
    Name: temp,
    Description: `Temporary: ${name} at ${location}, registered by a transform run; dropped when the run ends.`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'parquet', EXTERNAL: 'TRUE', [PARAM_TEMPORARY]: 'true' },
    StorageDescriptor: parquetStorage(columns.filter((c) => c.Name !== FACT_PARTITION_KEY), location),
    PartitionKeys: [],
  };
  if (!batchIds) return input;
  return {
    ...input,
    PartitionKeys: [{ Name: FACT_PARTITION_KEY, Type: 'string' }],
    Parameters: {
      ...input.Parameters,
      'projection.enabled': 'true',
      [`projection.${FACT_PARTITION_KEY}.type`]: 'enum',
      [`projection.${FACT_PARTITION_KEY}.values`]: batchIds.join(','),
      'storage.location.template': `${location}${FACT_PARTITION_KEY}=\${${FACT_PARTITION_KEY}}/`,
    },
  };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Athena (Hive DDL) equivalent of the Glue raw table cdktf deploys: OpenX JSON SerDe, partition
 * projection on `dt` (no crawler, no MSCK REPAIR). For analysts recreating a table by hand.
 */
export function athenaRawTableDdl(rawDatabase: string, table: SourceTableName, location: string, firstDate: string): string {
  const hive = (type: string): string =>
    type === 'integer' ? 'int' : type === 'varchar' ? 'string' : type === 'timestamp(3)' ? 'timestamp' : type;
  const cols = rawColumns(table).map((c) => `\`${c.name}\` ${hive(c.type)}`).join(',\n  ');
  if (!DATE.test(firstDate)) throw new Error(`"${firstDate}" is not a dt partition (YYYY-MM-DD)`);
  return [
    `CREATE EXTERNAL TABLE IF NOT EXISTS \`${quoteLakeIdent(rawDatabase).slice(1, -1)}\`.\`${rawTableName(table)}\` (\n  ${cols}\n)`,
    `PARTITIONED BY (\`dt\` string)`,
    `ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'`,
    `LOCATION ${stringLiteral(location)}`,
    `TBLPROPERTIES ('projection.enabled' = 'true', 'projection.dt.type' = 'date', 'projection.dt.format' = 'yyyy-MM-dd',`,
    `  'projection.dt.range' = '${firstDate},NOW', 'projection.dt.interval' = '1', 'projection.dt.interval.unit' = 'DAYS')`,
  ].join('\n');
}
