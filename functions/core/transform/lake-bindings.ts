import { SOURCE_TABLE_NAMES, type SourceTableName } from '../contract/source-tables';
import { STAR_TABLES } from '../contract/star-tables';
import { TRANSFORM_MANIFEST_PREFIX } from '../lake/lake-layout';
import { currentLocations, listExtractSeqs, newestManifestSeq, readExtractManifest, readTransformManifest } from '../lake/manifest-log';
import type { RelationBindings } from '../ports/query-engine';
import type { PipelineContext } from '../pipeline-context';

/**
 * Every published relation of the lake, for ad-hoc queries (`totes query`) and data tests:
 *  - `raw_<table>`: every raw file of every published extract batch (a batch is published once its
 *    extract manifest exists; files without one are ignored);
 *  - `<star table>`: what the catalog publishes (a dimension's location — for a by-key dimension its
 *    base and deltas, merged — a fact's partitions: its compacted months and recent batches, each
 *    version in exactly one of them, fact-compaction.ts). A fact has the columns of Athena's view of
 *    it (aws/fact-view.ts): `created_month` and `batch_id` follow its lineage (`analystFacts`), so the
 *    README's queries filter on `created_month` here as in Athena;
 *  - `current_<table>`: the current state after the latest transformed batch (base and deltas), from its manifest.
 */
export async function lakeBindings(ctx: Pick<PipelineContext, 'ingestion' | 'processed' | 'catalog'>): Promise<RelationBindings> {
  // Every table is bound, with no files before its first batch, so a query can name it anyway.
  const raw: Partial<Record<SourceTableName, string[]>> = Object.fromEntries(SOURCE_TABLE_NAMES.map((name) => [name, []]));
  for (const seq of await listExtractSeqs(ctx.ingestion)) {
    const manifest = await readExtractManifest(ctx.ingestion, seq);
    for (const name of SOURCE_TABLE_NAMES) raw[name]?.push(...(manifest.tables[name]?.files ?? []).map((f) => f.key));
  }

  const star: Partial<Record<string, string[]>> = {};
  const starDeltas: Partial<Record<string, string[]>> = {};
  for (const table of STAR_TABLES) {
    if (table.kind === 'fact') {
      star[table.name] = (await ctx.catalog.partitions(table.name)).map((p) => p.prefix);
    } else {
      const location = await ctx.catalog.location(table.name);
      star[table.name] = location ? [location.prefix] : [];
      // A by-key dimension's base + deltas, read as its latest row per key (dimension-by-key.ts).
      if (location?.deltas?.length) starDeltas[table.name] = location.deltas;
    }
  }

  const lastTransformed = await newestManifestSeq(ctx.processed, TRANSFORM_MANIFEST_PREFIX);
  const current = lastTransformed === undefined ? {} : currentLocations(await readTransformManifest(ctx.processed, lastTransformed));

  return { batch: {}, current, star, ...(Object.keys(starDeltas).length ? { starDeltas } : {}), raw, analystFacts: true };
}
