import { BatchDeletePartitionCommand, CreateDatabaseCommand, GetTableCommand, GlueClient, UpdateTableCommand } from '@aws-sdk/client-glue';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GlueCatalog } from '../../functions/aws/glue-catalog';
import { LINEAGE_COLUMNS, lakeTrinoType, starTable } from '../../functions/core/contract/star-tables';
import { backfillFactPrefix, factBatchPrefix, factCompactionPrefix, factMonthPrefix } from '../../functions/core/lake/lake-layout';
import type { TableLocation } from '../../functions/core/ports/catalog';
import { TrinoClient } from '../../functions/engines/trino/client';
import { motoServerBinary, startMotoServer, type MotoServer } from '../support/moto-server';
import { trinoSkipReason } from '../support/trino-server';
import { startTrinoGlue, type TrinoGlueServer } from './trino-glue';

/**
 * A fact on Glue as a view switched in one UpdateTable (functions/aws/fact-view.ts, GlueCatalog
 * publishCompaction and replacePartitions), read for real: Trino — the engine Athena v3 is — over
 * moto's Glue and S3 reads the view the catalog writes (the Presto view encoding), before and after
 * each publish, and sees every row version once; a crash before the switch changes nothing it reads,
 * a crash after it (the clean-up failing) leaves only garbage the next publish removes.
 */

const PROCESSED = 'totes-processed';
const DB = 'totes_processed';
const FACT = 'fact_payment';
const B = [1, 2, 3, 4, 5].map((n) => `000000000${n}-20261125T20${String(n * 5).padStart(2, '0')}00Z-aaaa`);
const ROWS_PER_BATCH = 12;

const missing = trinoSkipReason() ?? (motoServerBinary() ? undefined : 'moto_server is not installed (bash test/support/install-moto.sh)');

describe('a fact as a view on Glue, read by Trino over moto', () => {
  let moto: MotoServer;
  let trino: TrinoGlueServer;
  let client: TrinoClient;
  let glue: GlueClient;
  let catalog: GlueCatalog;
  let scratch = 0;
  const warnings: string[] = [];

  const sql = async (statement: string): Promise<unknown[][]> => (await client.execute(statement, 'fact-view test')).rows;
  /** What readers see through the view: rows, distinct versions, id sum, and the SQL versions. */
  const seen = async (where = 'TRUE') => {
    const [[rows, versions, ids, hashes]] = await sql(
      `SELECT count(*), count(DISTINCT concat(CAST(payment_id AS varchar), '/', _batch_id)), sum(payment_id), array_join(array_sort(array_agg(DISTINCT _sql_hash)), ',') FROM ${DB}.${FACT} WHERE ${where}`,
    );
    return { rows: Number(rows), versions: Number(versions), ids: Number(ids), hashes: String(hashes) };
  };
  const viewParams = async () => (await glue.send(new GetTableCommand({ DatabaseName: DB, Name: FACT }))).Table?.Parameters ?? {};

  /** Writes `select` as Parquet at `prefix` (optionally partitioned by month) through a throwaway external table. */
  const writeParquet = async (prefix: string, select: string, partitioned = false): Promise<void> => {
    const name = `scratch_${++scratch}`;
    const props = [`format = 'PARQUET'`, `external_location = 's3://${PROCESSED}/${prefix}'`, ...(partitioned ? [`partitioned_by = ARRAY['created_month']`] : [])];
    await sql(`CREATE TABLE ${DB}.${name} WITH (${props.join(', ')}) AS ${select}`);
    await sql(`DROP TABLE ${DB}.${name}`); // external: the files stay
  };
  const fact = starTable(FACT);
  const dataColumns = [...fact.columns.map((c) => c.name), ...LINEAGE_COLUMNS];
  /** A batch's rows: ids batch*100 + 1…12, created a week apart from September on (so several months). */
  const batchSelect = (batch: number, sqlHash: string): string => {
    const values = fact.columns.map((c) => {
      const type = lakeTrinoType(c.type);
      if (c.name === 'payment_id') return `CAST(${batch * 100} + x AS integer) AS payment_id`;
      if (c.name === 'created_date') return `date_add('day', CAST((${batch} * ${ROWS_PER_BATCH} + x) * 3 AS bigint), DATE '2026-08-20') AS created_date`;
      if (type === 'date') return `DATE '2026-11-25' AS ${c.name}`;
      if (type === 'boolean') return `x % 2 = 0 AS ${c.name}`;
      if (type === 'varchar') return `CAST(x AS varchar) AS ${c.name}`;
      return `CAST(x AS ${type}) AS ${c.name}`;
    });
    return `SELECT ${values.join(', ')}, '${B[batch - 1]}' AS _batch_id, '${sqlHash}' AS _sql_hash FROM UNNEST(sequence(1, ${ROWS_PER_BATCH})) AS u (x)`;
  };
  const batch = (n: number): TableLocation => ({ prefix: factBatchPrefix(FACT, B[n - 1]), batchId: B[n - 1], sqlHash: 'h1' });
  /** Compacts what the view shows of `batches` and `months` into a new compaction prefix; returns the months written. */
  const compact = async (batches: number[], months: TableLocation[], hash: string): Promise<TableLocation[]> => {
    const through = B[Math.max(...batches) - 1];
    const prefix = factCompactionPrefix(FACT, through, hash);
    const batchIds = batches.map((n) => `'${B[n - 1]}'`).join(', ');
    const monthNames = months.map((m) => `'${m.month}'`).join(', ') || "''";
    const touched = `SELECT DISTINCT created_month FROM ${DB}.${FACT} WHERE batch_id IN (${batchIds})`;
    await writeParquet(
      prefix,
      `SELECT ${dataColumns.join(', ')}, created_month FROM ${DB}.${FACT} WHERE (batch_id IN (${batchIds}) OR created_month IN (${monthNames})) AND created_month IN (${touched})`,
      true,
    );
    const written = (await sql(`${touched} ORDER BY 1`)).map(([m]) => String(m));
    return written.map((m) => ({ prefix: factMonthPrefix(prefix, m), batchId: through, sqlHash: 'h1', month: m }));
  };

  beforeAll(async () => {
    if (missing) throw new Error(`The offline cloud cannot run: ${missing}`);
    moto = await startMotoServer({ patched: true });
    trino = await startTrinoGlue({ moto });
    client = new TrinoClient({ url: trino.url, catalog: trino.catalog, schema: DB });
    glue = new GlueClient(moto.clientConfig);
    await new S3Client(moto.clientConfig).send(new CreateBucketCommand({ Bucket: PROCESSED, CreateBucketConfiguration: { LocationConstraint: moto.clientConfig.region as 'eu-west-2' } }));
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: DB } }));
    catalog = new GlueCatalog(glue, { database: DB, bucket: PROCESSED, log: { warn: (m) => void warnings.push(m) } });
  }, 600_000);

  afterAll(async () => {
    glue?.destroy();
    await trino?.stop();
    await moto?.stop();
  });

  it('reads the batches, then the months and batches of each compaction, each version once; a crash before the switch changes nothing', async () => {
    for (const n of [1, 2, 3]) {
      await writeParquet(batch(n).prefix, batchSelect(n, 'h1'));
      await catalog.addPartition(FACT, batch(n));
    }
    const before = await seen();
    expect(before).toEqual({ rows: 3 * ROWS_PER_BATCH, versions: 3 * ROWS_PER_BATCH, ids: expect.any(Number), hashes: 'h1' });
    const months = (await sql(`SELECT DISTINCT created_month FROM ${DB}.${FACT} ORDER BY 1`)).map(([m]) => String(m));
    expect(months.length).toBeGreaterThan(1);
    const perMonth = await Promise.all(months.map((m) => seen(`created_month = '${m}'`)));

    // Compaction 1 (B1, B2) written; the publish crashes before the switch (UpdateTable never arrives).
    const first = await compact([1, 2], [], 'aaaa1111');
    const crashing = new GlueCatalog(failing(glue, UpdateTableCommand), { database: DB, bucket: PROCESSED });
    await expect(crashing.publishCompaction(FACT, [batch(1), batch(2)], first)).rejects.toThrow(/nothing readers see was changed.*simulated crash/);
    expect(await seen()).toEqual(before);
    expect((await viewParams())['totes.months_table']).toBeUndefined();
    expect(await catalog.partitions(FACT)).toEqual([batch(1), batch(2), batch(3)]);

    // Published again, and this time the clean-up after the switch fails: readers see the new set all the same.
    const cleanupFails = new GlueCatalog(failing(glue, BatchDeletePartitionCommand), { database: DB, bucket: PROCESSED, log: { warn: (m) => void warnings.push(m) } });
    await cleanupFails.publishCompaction(FACT, [batch(1), batch(2)], first);
    expect(warnings.join('\n')).toMatch(/cleaning up what it no longer reads failed/);
    expect(await seen()).toEqual(before);
    for (const [i, m] of months.entries()) expect(await seen(`created_month = '${m}'`)).toEqual(perMonth[i]);
    expect(await catalog.partitions(FACT)).toEqual([...first, batch(3)]);
    expect(await viewParams()).toMatchObject({ 'totes.months_table': `fact_payment_months_${B[1].replace(/-/g, '_').toLowerCase()}`, 'totes.compacted_through': B[1] });

    // A later batch, then compaction 2 (B3, B4 and the months they touch), published whole and cleaned up.
    await writeParquet(batch(4).prefix, batchSelect(4, 'h1'));
    await catalog.addPartition(FACT, batch(4));
    const four = await seen();
    expect(four.rows).toBe(4 * ROWS_PER_BATCH);
    const second = await compact([3, 4], first, 'bbbb2222');
    const touchedMonths = new Set(second.map((m) => m.month));
    const replaced = first.filter((m) => touchedMonths.has(m.month));
    await catalog.publishCompaction(FACT, [batch(3), batch(4), ...replaced], second);
    expect(await seen()).toEqual(four);
    const published = await catalog.partitions(FACT);
    expect(published.every((p) => p.month !== undefined)).toBe(true);
    expect(published.map((p) => p.month)).toEqual([...new Set([...first, ...second].map((m) => m.month))].sort());
    // The clean-up removed what no view reads: the first months table, the compacted batches' partitions.
    const tables = (await sql(`SHOW TABLES FROM ${DB} LIKE 'fact_payment%'`)).map(([t]) => String(t)).sort();
    expect(tables).toEqual(['fact_payment', 'fact_payment_batches', `fact_payment_months_${B[3].replace(/-/g, '_').toLowerCase()}`]);
    expect(await sql(`SELECT count(*) FROM ${DB}."fact_payment_batches$partitions"`)).toEqual([[0]]);
    // A filter on created_month prunes the months: Trino reads that month's files only.
    const scan = async (where: string) => (await client.execute(`SELECT sum(payment_id), count(*) FROM ${DB}.${FACT} WHERE ${where}`, 'fact-view scan')).processedBytes;
    const [everything, oneMonth] = [await scan('TRUE'), await scan(`created_month = '${months[0]}'`)];
    expect(oneMonth).toBeGreaterThan(0);
    expect(oneMonth).toBeLessThan(everything / 2);
  });

  it('publishes a backfill as a new batches table in one switch; later batches join it', async () => {
    const rebuilt = (n: number): TableLocation => ({ prefix: backfillFactPrefix(FACT, 'h2h2h2h2h2h2', B[0], B[n - 1]), batchId: B[n - 1], sqlHash: 'h2' });
    for (const n of [1, 2, 3, 4]) await writeParquet(rebuilt(n).prefix, batchSelect(n, 'h2'));
    const before = await seen();
    expect(before.hashes).toBe('h1');
    await catalog.replacePartitions(FACT, [1, 2, 3, 4].map(rebuilt));
    expect(await seen()).toEqual({ ...before, hashes: 'h2' });
    const batchesTable = (await viewParams())['totes.batches_table'];
    expect(batchesTable).toMatch(/^fact_payment_batches_[0-9a-f]{12}$/);
    const next: TableLocation = { prefix: factBatchPrefix(FACT, B[4]), batchId: B[4], sqlHash: 'h2' };
    await writeParquet(next.prefix, batchSelect(5, 'h2'));
    await catalog.addPartition(FACT, next);
    expect(await seen()).toMatchObject({ rows: 5 * ROWS_PER_BATCH, versions: 5 * ROWS_PER_BATCH, hashes: 'h2' });
    expect(await catalog.partitions(FACT)).toEqual([...[1, 2, 3, 4].map(rebuilt), next]);
    // The months tables are gone with the switch; the stack's batches table stays, emptied.
    const tables = (await sql(`SHOW TABLES FROM ${DB} LIKE 'fact_payment%'`)).map(([t]) => String(t)).sort();
    expect(tables).toEqual(['fact_payment', 'fact_payment_batches', batchesTable]);
  });
});

/** A Glue client on which every `command` fails, as if the process died just before sending it. */
function failing(glue: GlueClient, command: abstract new (...args: never[]) => unknown): GlueClient {
  return {
    send: (c: unknown) => (c instanceof command ? Promise.reject(new Error(`simulated crash before ${command.name}`)) : glue.send(c as never)),
  } as unknown as GlueClient;
}
