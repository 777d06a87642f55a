import type { Column, Table, TableInput } from '@aws-sdk/client-glue';
import { LINEAGE_COLUMNS, lakeTrinoType, starTable, STAR_TABLES, type StarTable } from '../core/contract/star-tables';
import { FACT_MONTH_COLUMN } from '../core/lake/lake-layout';
import { quoteLakeIdent, stringLiteral } from '../core/sql/sql-text';
import { FACT_PARTITION_KEY, parquetStorage, processedColumns } from './glue-table-input';

/**
 * A fact on Glue as an Athena view over two partitioned tables, so that a compaction (core/transform/fact-compaction.ts)
 * or a backfill's publish (core/transform/backfill.ts) is seen by readers all at once: Glue changes
 * partitions at most 100 per call, but one UpdateTable of the view switches which tables it reads.
 *
 *   <fact>            VIRTUAL_VIEW: SELECT … FROM <months table>
 *                                   UNION ALL SELECT … FROM <batches table> WHERE batch_id > '<through>'
 *   <fact>_months_<through>   compacted months, partitioned by created_month (a new table per compaction)
 *   <fact>_batches[_<hash>]   one partition batch_id=<batch> per batch (the stack's `<fact>_batches`,
 *                             or the table a backfill published)
 *
 * The view's Glue parameters hold the catalog's state (which months table, compacted through which
 * batch, which batches table), so the one UpdateTable that changes the SQL changes the state too.
 * The view is stored in the encoding Athena and Trino both read (Trino's ViewReaderUtil, HiveMetadata
 * PRESTO_VIEW_COMMENT): `ViewOriginalText` = `/* Presto View: <base64 JSON> *\/`, `ViewExpandedText`
 * = `/* Presto View *\/`, parameters `presto_view=true` and `comment=Presto View` (a view with any
 * other comment is not a view to Athena, see athena-current-views.ts).
 */

/** View parameters: the months table it reads (absent before the first compaction). */
export const PARAM_MONTHS_TABLE = 'totes.months_table';
/** View parameter: the newest batch the months hold; the batches table is read after it. */
export const PARAM_THROUGH = 'totes.compacted_through';
/** View parameter: the batches table it reads, where the transform adds each batch's partition. */
export const PARAM_BATCHES_TABLE = 'totes.batches_table';
/** View parameter holding its description (a view must not carry a Glue Description: athena-current-views.ts). */
export const PARAM_VIEW_DESCRIPTION = 'totes.description';

/** Owner of the facts' views (their definer): the pipeline. */
export const FACT_VIEW_OWNER = 'totes-lake';

/** Athena's default catalog; the name the offline Trino gives its Glue catalog too (test/cloud/trino-glue.ts). */
export const ATHENA_DATA_CATALOG = 'awsdatacatalog';

const PRESTO_VIEW_PREFIX = '/* Presto View: ';
const PRESTO_VIEW_SUFFIX = ' */';

/** What the view reads: the catalog's state of a fact. */
export interface FactViewState {
  batchesTable: string;
  monthsTable?: string;
  /** Newest batch the months hold; set exactly when `monthsTable` is. */
  through?: string;
}

/** Whether a star table name is a fact (the tables kept as a view on Glue). */
export function isFact(name: string): boolean {
  return STAR_TABLES.some((t) => t.name === name && t.kind === 'fact');
}

/** The batches table the stack creates for a fact. */
export function baseBatchesTableName(fact: string): string {
  return `${fact}_batches`;
}

/** The months table of a compaction through `through` (a batch id, made a Glue name: lower case, `_` for `-`). */
export function monthsTableName(fact: string, through: string): string {
  return `${fact}_months_${glueNamePart(through)}`;
}

/** The batches table a backfill publishes, named by a hash of what it holds. */
export function backfillBatchesTableName(fact: string, hash12: string): string {
  return `${fact}_batches_${glueNamePart(hash12)}`;
}

/** The tables a fact's view may read (current or left over): what a cleanup may drop, never `<fact>` itself. */
export function isFactDataTable(fact: string, name: string): boolean {
  return factDataTablePrefixes(fact).some((prefix) => name.startsWith(prefix));
}

/**
 * The name prefixes of the tables a fact's view may read: `<fact>_batches` (the stack's, a
 * backfill's `_<hash12>`), then `<fact>_months_…`. The backfill operator policy grants on them.
 */
export function factDataTablePrefixes(fact: string): [batches: string, months: string] {
  return [baseBatchesTableName(fact), `${fact}_months_`];
}

function glueNamePart(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** The view's columns: the fact's, its lineage, the month (to filter on) and the batch. */
export function factViewColumns(fact: StarTable): { name: string; type: string; glueType: string; comment: string }[] {
  const comments = new Map(processedColumns(fact.name).map((c) => [c.Name!, c.Comment ?? '']));
  const glueTypes = new Map(processedColumns(fact.name).map((c) => [c.Name!, c.Type!]));
  return [
    ...fact.columns.map((c) => ({ name: c.name, type: lakeTrinoType(c.type), glueType: glueTypes.get(c.name)!, comment: comments.get(c.name) ?? '' })),
    ...LINEAGE_COLUMNS.map((name) => ({ name, type: 'varchar', glueType: 'string', comment: comments.get(name) ?? '' })),
    { name: FACT_MONTH_COLUMN, type: 'varchar', glueType: 'string', comment: MONTH_COMMENT },
    { name: FACT_PARTITION_KEY, type: 'varchar', glueType: 'string', comment: 'Batch that wrote the row version (its _batch_id): recent rows are also partitioned by it.' },
  ];
}

export const MONTH_COMMENT = "Month of created_date ('YYYY-MM'). Filter on created_month to read only those months: the compacted months are partitioned by it.";

/** The view's SELECT: the months (if any) and the batches after them, each version once. */
export function factViewSql(database: string, fact: string, state: FactViewState): string {
  const table = starTable(fact);
  const data = [...table.columns.map((c) => c.name), ...LINEAGE_COLUMNS].map(quoteLakeIdent);
  const q = (t: string): string => `${quoteLakeIdent(database)}.${quoteLakeIdent(t)}`;
  const month = quoteLakeIdent(FACT_MONTH_COLUMN);
  const batch = quoteLakeIdent(FACT_PARTITION_KEY);
  const batches = [
    `SELECT ${[...data, `substr(CAST(${quoteLakeIdent('created_date')} AS varchar), 1, 7) AS ${month}`, batch].join(', ')}`,
    `FROM ${q(state.batchesTable)}`,
    ...(state.through ? [`WHERE ${batch} > ${stringLiteral(state.through)}`] : []),
  ].join('\n');
  if (!state.monthsTable) return batches;
  const months = [`SELECT ${[...data, month, `${quoteLakeIdent('_batch_id')} AS ${batch}`].join(', ')}`, `FROM ${q(state.monthsTable)}`].join('\n');
  return `${months}\nUNION ALL\n${batches}`;
}

/** `/* Presto View: <base64 JSON> *\/`: the view definition as Athena and Trino store it in Glue. */
export function encodePrestoView(view: { originalSql: string; catalog: string; schema: string; columns: { name: string; type: string }[]; owner: string }): string {
  // A definer view names its owner: Trino refuses one without ("Run-as identity must be set for a
  // run-as definer view", as the offline cloud showed); Athena authorizes the caller through IAM either way.
  const json = JSON.stringify({
    originalSql: view.originalSql,
    catalog: view.catalog,
    schema: view.schema,
    columns: view.columns.map((c) => ({ name: c.name, type: c.type })),
    owner: view.owner,
    runAsInvoker: false,
  });
  return `${PRESTO_VIEW_PREFIX}${Buffer.from(json, 'utf8').toString('base64')}${PRESTO_VIEW_SUFFIX}`;
}

/** The JSON inside a Presto view's text, or undefined when the text is not one. */
export function decodePrestoView(text: string | undefined): { originalSql: string; catalog?: string; schema?: string; columns: { name: string; type: string }[] } | undefined {
  if (!text?.startsWith(PRESTO_VIEW_PREFIX) || !text.endsWith(PRESTO_VIEW_SUFFIX)) return undefined;
  try {
    return JSON.parse(Buffer.from(text.slice(PRESTO_VIEW_PREFIX.length, -PRESTO_VIEW_SUFFIX.length), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The fact's view as a Glue table: the SQL over `state`, the state in its parameters, the columns described. */
export function factViewInput(database: string, catalog: string, fact: string, state: FactViewState): TableInput {
  const table = starTable(fact);
  const columns = factViewColumns(table);
  return {
    Name: fact,
    TableType: 'VIRTUAL_VIEW',
    Owner: FACT_VIEW_OWNER,
    ViewOriginalText: encodePrestoView({ originalSql: factViewSql(database, fact, state), catalog, schema: database, columns, owner: FACT_VIEW_OWNER }),
    ViewExpandedText: '/* Presto View */',
    Parameters: {
      presto_view: 'true',
      comment: 'Presto View',
      [PARAM_VIEW_DESCRIPTION]: factViewDescription(table),
      [PARAM_BATCHES_TABLE]: state.batchesTable,
      ...(state.monthsTable && state.through ? { [PARAM_MONTHS_TABLE]: state.monthsTable, [PARAM_THROUGH]: state.through } : {}),
    },
    // Athena lists a view's columns from here; the view's own types are in ViewOriginalText.
    StorageDescriptor: { Columns: columns.map((c) => ({ Name: c.name, Type: c.glueType, Comment: c.comment })), SerdeInfo: {} },
    PartitionKeys: [],
  };
}

export function factViewDescription(table: StarTable): string {
  return (
    `${table.description} Every version of every row: the compacted months (${FACT_MONTH_COLUMN}=YYYY-MM) and the batches after them. ` +
    `Filter on ${FACT_MONTH_COLUMN} (the month of created_date) to read only some months; the ${table.name}_current view gives the latest version of each row. ` +
    `Built by sql/transform/${table.name}.sql, compacted by sql/compaction/${table.name}.sql.`
  );
}

/** The state a fact's view holds, or undefined when `table` is not such a view. */
export function factViewState(table: Table | undefined): FactViewState | undefined {
  const p = table?.Parameters;
  if (table?.TableType !== 'VIRTUAL_VIEW' || !p?.[PARAM_BATCHES_TABLE]) return undefined;
  const monthsTable = p[PARAM_MONTHS_TABLE];
  const through = p[PARAM_THROUGH];
  return { batchesTable: p[PARAM_BATCHES_TABLE], ...(monthsTable && through ? { monthsTable, through } : {}) };
}

/** A fact's batches table: Parquet partitioned by `batch_id` (each partition names its own location). */
export function batchesTableInput(name: string, fact: string, location: string): TableInput {
  return {
    Name: name,
    Description: `Batches of ${fact}, one partition batch_id=<batch> each, read by the view ${fact} after its compacted months. Query ${fact}, not this table.`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'parquet', EXTERNAL: 'TRUE' },
    StorageDescriptor: parquetStorage(processedColumns(fact), location),
    PartitionKeys: [{ Name: FACT_PARTITION_KEY, Type: 'string', Comment: 'Batch that appended these row versions.' }],
  };
}

/** A compaction's months table: Parquet partitioned by `created_month`, invisible until the view names it. */
export function monthsTableInput(name: string, fact: string, location: string, through: string): TableInput {
  const columns: Column[] = processedColumns(fact);
  return {
    Name: name,
    Description: `Compacted months of ${fact} through batch ${through}, one partition ${FACT_MONTH_COLUMN}=YYYY-MM each (filter on ${FACT_MONTH_COLUMN}). Read by the view ${fact}; query ${fact}, not this table.`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'parquet', EXTERNAL: 'TRUE' },
    StorageDescriptor: parquetStorage(columns, location),
    PartitionKeys: [{ Name: FACT_MONTH_COLUMN, Type: 'string', Comment: MONTH_COMMENT }],
  };
}
