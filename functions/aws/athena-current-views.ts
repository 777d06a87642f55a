import type { Table, TableInput } from '@aws-sdk/client-glue';
import { athenaCurrentViewDdl, athenaDimensionViewDdl, CURRENT_VIEWS, DIMENSION_VIEWS, type CurrentView, type DimensionView } from '../core/analysis/current-views';
import type { Log } from '../core/ports/log';
import type { PipelineContext } from '../core/pipeline-context';
import { sha256 } from '../core/transform/sql-files';
import { AthenaEngine } from '../engines/athena/engine';
import { GlueCatalog } from './glue-catalog';
import { PARAM_SQL_HASH, processedColumns } from './glue-table-input';

/**
 * The analyst views `fact_*_current` (latest version of each order or payment) in the processed
 * Glue database, created through Athena from the one definition in core/analysis/current-views.ts
 * — the same SELECT DuckDB binds locally and the warehouse migration holds.
 *
 * Why Athena DDL and not cdktf: a Glue view Athena can read must carry the Presto view encoding
 * (base64 JSON of the SQL and its column types), which only Athena writes reliably; one
 * `CREATE OR REPLACE VIEW` keeps a single definition. Each view is stamped with the SQL hash of its
 * DDL (table parameter `totes.sql_hash`) plus descriptions, so a view already at that hash is
 * left alone (no Athena query) and a changed contract replaces it on the next transform.
 *
 * Each fact (`fact_sales_order`, …) is itself a view the Glue catalog keeps over its compacted months
 * and recent batches (aws/fact-view.ts, written directly in the Presto view encoding because it is
 * switched by one UpdateTable at each compaction, not by DDL); the current views read it by name.
 *
 * The same holds for the by-key dimensions' views (`dim_transaction`, {@link ensureDimensionViews}):
 * the dimension is kept as base + deltas, which Glue holds as the partitions of `<dim>_versions`,
 * and the view named for the dimension merges them (the latest row per key, as the transform reads
 * it), so analysts query `dim_transaction` as before. A Glue table of that name from before (an
 * EXTERNAL_TABLE the stack used to create) is dropped first: the view replaces it.
 *
 * A view's description is the table parameter `totes.description`, never the Glue table
 * Description: Athena engine v3's engine (Trino's Glue metastore) reads a table's Description as
 * its `comment` parameter, and a view whose comment is not "Presto View" is no longer a view to it
 * — the view vanishes (TABLE_NOT_FOUND), as the offline cloud showed. A view an earlier version
 * described that way is 'repaired': its Description is removed, no DDL runs.
 */

export type ViewAction = 'created' | 'replaced' | 'repaired' | 'unchanged';

/** Table parameter holding a view's description (see above for why not the Glue Description). */
export const PARAM_DESCRIPTION = 'totes.description';

export interface CurrentViewPorts {
  engine: Pick<AthenaEngine, 'runStatement'>;
  catalog: Pick<GlueCatalog, 'getTable' | 'updateTable' | 'database'>;
  log: Log;
}

/** One view the transform keeps in the processed database. */
interface ViewSpec {
  name: string;
  /** `CREATE OR REPLACE VIEW …`; its sha256 is the view's version. */
  ddl: string;
  /** What the view is, for the query's label and the log. */
  kind: string;
  describe(input: TableInput, hash: string): TableInput;
  /** A Glue table of the view's name that is not a view: refuse it, or drop it (then the view is created). */
  notAView(existing: Table): Promise<void>;
}

/**
 * Creates or replaces every view whose definition is missing or out of date; a view already at its
 * DDL's hash runs no query, and one that carries a Glue Description (which hides it from Athena) is
 * repaired by a catalog update alone.
 */
async function ensureViews(ports: CurrentViewPorts, views: ViewSpec[]): Promise<Record<string, ViewAction>> {
  const database = ports.catalog.database;
  const actions: Record<string, ViewAction> = {};
  for (const view of views) {
    const hash = sha256(view.ddl);
    let existing = await ports.catalog.getTable(view.name);
    if (existing && existing.TableType !== 'VIRTUAL_VIEW') {
      await view.notAView(existing);
      existing = undefined;
    }
    if (existing?.Parameters?.[PARAM_SQL_HASH] === hash) {
      if (existing.Description) {
        await ports.catalog.updateTable(view.name, (input) => view.describe(input, hash));
        actions[view.name] = 'repaired';
        ports.log.info(`Athena view ${database}.${view.name} repaired (its Glue Description hid it from Athena)`, { view: view.name });
      } else {
        actions[view.name] = 'unchanged';
      }
      continue;
    }
    await ports.engine.runStatement(view.ddl, `${view.kind} ${database}.${view.name}`);
    await ports.catalog.updateTable(view.name, (input) => view.describe(input, hash));
    actions[view.name] = existing ? 'replaced' : 'created';
    ports.log.info(`Athena view ${database}.${view.name} ${actions[view.name]}`, { view: view.name, sqlHash: hash });
  }
  return actions;
}

/** Creates or replaces every current view whose definition is missing or out of date. */
export async function ensureCurrentViews(ports: CurrentViewPorts): Promise<Record<string, ViewAction>> {
  const database = ports.catalog.database;
  const statements = athenaCurrentViewDdl(database);
  return ensureViews(
    ports,
    CURRENT_VIEWS.map((view, i) => ({
      name: view.name,
      ddl: statements[i],
      kind: 'current view',
      describe: (input, hash) => describeView(input, view, hash),
      notAView: async (existing) => {
        throw new Error(
          `Glue table ${database}.${view.name} exists but is not a view (${existing.TableType ?? 'no type'}); ` +
            'the current-state view cannot replace it: drop or rename that table, then run the transform again',
        );
      },
    })),
  );
}

export interface DimensionViewPorts extends CurrentViewPorts {
  catalog: Pick<GlueCatalog, 'getTable' | 'updateTable' | 'deleteTable' | 'database'>;
}

/** Creates or replaces every by-key dimension's view whose definition is missing or out of date. */
export async function ensureDimensionViews(ports: DimensionViewPorts): Promise<Record<string, ViewAction>> {
  const database = ports.catalog.database;
  const statements = athenaDimensionViewDdl(database);
  return ensureViews(
    ports,
    DIMENSION_VIEWS.map((view, i) => ({
      name: view.name,
      ddl: statements[i],
      kind: 'dimension view',
      describe: (input, hash) => describeDimensionView(input, view, hash),
      notAView: async () => {
        // The dimension's table from before it was kept as base + deltas: its data now lives in <dim>_versions.
        await ports.catalog.deleteTable(view.name);
        ports.log.info(`Glue table ${database}.${view.name} dropped: the view over ${view.versions} replaces it`, { view: view.name });
      },
    })),
  );
}

/** A dimension view as Athena wrote it, with its description (a parameter, never the Glue Description), column comments and DDL hash. */
export function describeDimensionView(input: TableInput, view: DimensionView, hash: string): TableInput {
  return describeLakeView(
    input,
    view.dimension.name,
    `${view.dimension.description} One row per ${view.dimension.key.join(', ')}: the latest (greatest _batch_id) of its base and change sets in ${view.versions}. ` +
      'Defined in functions/core/analysis/current-views.ts.',
    hash,
  );
}

/** The view as Athena wrote it, plus what a person browsing the catalog needs: descriptions (a parameter, and column comments) and the DDL hash. */
export function describeView(input: TableInput, view: CurrentView, hash: string): TableInput {
  return describeLakeView(
    input,
    view.fact.name,
    `Current state of ${view.fact.name}: the latest version (greatest last_updated_date, last_updated_time) of each ${view.fact.key[0]}, ` +
      `beside the full version history in ${view.fact.name}. ${view.fact.description} Defined in functions/core/analysis/current-views.ts.`,
    hash,
  );
}

/** A view's catalog entry: its description as a parameter, the columns' comments from the star table it reads, the DDL hash. */
function describeLakeView(input: TableInput, starTable: string, description: string, hash: string): TableInput {
  const comments = new Map(processedColumns(starTable).map((c) => [c.Name, c.Comment]));
  const sd = input.StorageDescriptor;
  return {
    ...input,
    // Never a Glue Description on a view: Athena would read it as the view's comment and stop seeing a view.
    Description: undefined,
    Parameters: { ...input.Parameters, [PARAM_SQL_HASH]: hash, [PARAM_DESCRIPTION]: description },
    ...(sd
      ? { StorageDescriptor: { ...sd, Columns: sd.Columns?.map((c) => ({ ...c, Comment: c.Comment || comments.get(c.Name ?? '') })) } }
      : {}),
  };
}

/**
 * The transform Lambda's step after a transform: makes sure the current views exist in the cloud.
 * A context that is not Athena over Glue (tests over local adapters) has no views to keep; locally
 * the views are CTEs (`withCurrentViews`). A failure is logged as an error and does not fail the
 * invocation: the batch is transformed, and the next invocation tries the views again.
 */
export async function ensureLakeViews(ctx: PipelineContext): Promise<Record<string, ViewAction> | undefined> {
  if (!(ctx.engine instanceof AthenaEngine) || !(ctx.catalog instanceof GlueCatalog)) return undefined;
  try {
    const ports = { engine: ctx.engine, catalog: ctx.catalog, log: ctx.log };
    // The current views read the facts' own views (aws/fact-view.ts), which the first batch creates: made sure of first.
    for (const view of CURRENT_VIEWS) await ctx.catalog.ensureFactView(view.fact.name);
    return { ...(await ensureCurrentViews(ports)), ...(await ensureDimensionViews(ports)) };
  } catch (err) {
    ctx.log.error(`Could not create the current-state views: ${(err as Error).message}. Analysts lack fact_*_current (or the by-key dimensions' views) until this is fixed; the next transform retries`, {
      views: [...CURRENT_VIEWS, ...DIMENSION_VIEWS].map((v) => v.name),
    });
    return undefined;
  }
}

