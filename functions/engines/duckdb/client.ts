import { DuckDBInstance, StatementType, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';

/**
 * DuckDB as the engine uses it: one in-memory instance with one connection, the Trino-name macros
 * registered ({@link DUCKDB_TRINO_MACROS}), and statements run one at a time (calls queue), with
 * prepared-statement parameters and errors that say where they came from.
 */
export class DuckDbClient {
  /** `onStatement` is told every statement before it runs (its text and parameters): tests compare them with `totes compile`. */
  constructor(private readonly onStatement?: (sql: string, params: readonly DuckDBValue[]) => void) {}

  private connecting?: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }>;
  /** One connection runs one statement at a time; calls queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  /** Opens the connection now (it opens on first use otherwise). */
  async open(): Promise<void> {
    await this.connection();
  }

  /** Runs `work` alone on the connection, after every call queued before it. */
  serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.catch(() => undefined).then(work);
    this.queue = next;
    return next;
  }

  /** Runs a statement (within {@link serial}) with parameters (`$1`…) and returns its rows; a failure names `where`. */
  async run(sql: string, params: readonly DuckDBValue[], where: string): Promise<Record<string, unknown>[]> {
    const connection = await this.connection();
    this.onStatement?.(sql, params);
    try {
      const reader = await connection.runAndReadAll(sql, params.length ? [...params] : undefined);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } catch (err) {
      throw new Error(`${where} failed on DuckDB: ${(err as Error).message}`);
    }
  }

  /** Runs a read-only query (within {@link serial}): anything but a SELECT is refused before it runs. `original` names it in errors. */
  async select(sql: string, params: readonly DuckDBValue[], original: string): Promise<Record<string, unknown>[]> {
    const connection = await this.connection();
    let prepared;
    try {
      prepared = await connection.prepare(sql);
    } catch (err) {
      throw new Error(`Query failed on DuckDB: ${(err as Error).message}\nQuery: ${original}`);
    }
    if (prepared.statementType !== StatementType.SELECT) {
      throw new Error(`Only read-only SELECT queries can run against the lake; got a ${StatementType[prepared.statementType]} statement: ${original}`);
    }
    this.onStatement?.(sql, params);
    try {
      if (params.length) prepared.bind([...params]);
      const reader = await prepared.runAndReadAll();
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } catch (err) {
      throw new Error(`Query failed on DuckDB: ${(err as Error).message}\nQuery: ${original}`);
    } finally {
      prepared.destroySync();
    }
  }

  /** Closes the connection once the queued statements are done; true when one was open. */
  async close(): Promise<boolean> {
    const connecting = this.connecting;
    this.connecting = undefined;
    if (!connecting) return false;
    await this.queue.catch(() => undefined);
    const { instance, connection } = await connecting;
    connection.closeSync();
    instance.closeSync();
    return true;
  }

  private async connection(): Promise<DuckDBConnection> {
    this.connecting ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      for (const macro of DUCKDB_TRINO_MACROS) await connection.run(macro.sql);
      return { instance, connection };
    })();
    return (await this.connecting).connection;
  }
}

/**
 * DuckDB macros that give the Trino names the transform SQL uses (sql/transform/FUNCTIONS.md) the
 * same meaning in DuckDB, so one SQL file runs unchanged on Athena, Trino and the local engine.
 * Each macro supports exactly the use FUNCTIONS.md allows and fails loudly on anything else, so a
 * file that strays from the list breaks locally instead of silently meaning something different.
 */
export const DUCKDB_TRINO_MACROS: readonly { name: string; sql: string }[] = [
  {
    name: 'format_datetime',
    sql: `CREATE OR REPLACE MACRO format_datetime(ts, fmt) AS
      CASE WHEN fmt = 'HH:mm:ss.SSS' THEN strftime(CAST(ts AS TIMESTAMP), '%H:%M:%S.%g')
      ELSE error('format_datetime: only the pattern HH:mm:ss.SSS is supported (sql/transform/FUNCTIONS.md), got ' || fmt) END`,
  },
  {
    name: 'sequence',
    sql: `CREATE OR REPLACE MACRO sequence(start_date, stop_date) AS
      list_transform(
        generate_series(CAST(start_date AS TIMESTAMP), CAST(stop_date AS TIMESTAMP), INTERVAL 1 DAY),
        d -> CAST(d AS DATE))`,
  },
  {
    name: 'day_of_week',
    sql: `CREATE OR REPLACE MACRO day_of_week(d) AS isodow(d)`,
  },
];
