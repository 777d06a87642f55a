import { AthenaNamedQuery } from '@cdktf/provider-aws/lib/athena-named-query';
import { Construct } from 'constructs';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CURRENT_VIEWS } from '../../functions/core/analysis/current-views';
import { sqlHeader } from '../../functions/core/docs/docs-model';

/** Athena's limits on a named query's description and name. */
const MAX_DESCRIPTION = 1024;
const MAX_NAME = 128;

export interface SavedQuery {
  /** Name shown in the console's Saved queries tab. */
  name: string;
  description: string;
  query: string;
}

const fit = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const oneLine = (text: string): string => text.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');

/**
 * What an analyst finds under Saved queries in the workgroup, read at synth time so that a change to
 * a file changes the saved query on the next deploy:
 *  - every `sql/analysis/*.sql`, unchanged (the files are portable and name tables without a
 *    database: the saved query runs in the processed database), described by the file's header;
 *  - one query per current view (`fact_*_current`, created by the transform from
 *    functions/core/analysis/current-views.ts), showing where the latest version of each order or
 *    payment lives and how to bound a query on it.
 */
export function savedQueries(repoRoot = path.resolve(__dirname, '..', '..')): SavedQuery[] {
  const dir = path.join(repoRoot, 'sql', 'analysis');
  const files = readdirSync(dir).filter((n) => n.endsWith('.sql')).sort();
  const analysis = files.map((file) => {
    const query = readFileSync(path.join(dir, file), 'utf8');
    return { name: `totes: ${file.replace(/\.sql$/, '')}`, description: fit(`${oneLine(sqlHeader(query))} (sql/analysis/${file})`, MAX_DESCRIPTION), query };
  });
  const views = CURRENT_VIEWS.map((view) => {
    const [id] = view.fact.key;
    return {
      name: `totes: ${view.name}`,
      description: fit(
        `The latest version of each row of ${view.fact.name} (one row per ${id}); ${view.fact.name} holds every version. ` +
          'The saved query bounds it to orders created in the last 30 days.',
        MAX_DESCRIPTION,
      ),
      query: [
        `-- The latest version of each row of ${view.fact.name} created in the last 30 days, the newest change first.`,
        `-- ${view.fact.name} holds every version; this view reads all of them to pick the latest.`,
        'SELECT *',
        `FROM ${view.name}`,
        "WHERE created_date >= current_date - INTERVAL '30' DAY",
        'ORDER BY last_updated_date DESC, last_updated_time DESC',
        'LIMIT 100',
        '',
      ].join('\n'),
    };
  });
  for (const q of [...analysis, ...views]) if (q.name.length > MAX_NAME) throw new Error(`saved query name over ${MAX_NAME} characters: ${q.name}`);
  return [...analysis, ...views];
}

export interface SavedQueriesProps {
  workgroup: string;
  /** Glue database the queries run in: the processed database (star tables and current views). */
  database: string;
}

/** The {@link savedQueries} as Athena named queries of the pipeline's workgroup. */
export class SavedQueries extends Construct {
  readonly queries: AthenaNamedQuery[];

  constructor(scope: Construct, id: string, props: SavedQueriesProps) {
    super(scope, id);
    this.queries = savedQueries().map(
      (q) =>
        new AthenaNamedQuery(this, q.name.replace(/^totes: /, ''), {
          name: q.name,
          description: q.description,
          query: q.query,
          database: props.database,
          workgroup: props.workgroup,
        }),
    );
  }
}
