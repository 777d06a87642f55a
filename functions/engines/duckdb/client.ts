import { DuckDBInstance, StatementType, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';

/** Connections of the engine's one DuckDB instance, at most: statements sent together run at once (transform/concurrently.ts). */
export const DUCKDB_CONNECTIONS = 4;

/**
 * DuckDB as the engine uses it: one in-memory instance with the Trino-name macros registered
 * ({@link DUCKDB_TRINO_MACROS}) and up to `connections` connections to it, each running one
 * statement at a time: statements sent together (a batch's independent statements,
 * transform/concurrently.ts) run at once on their own connections, so a five-minute batch's small
 * statements use every core instead of queueing behind each other (issue 14, item 1). Statements
 * run with prepared-statement parameters and errors that say where they came from.
 */
export class DuckDbClient {
  /**
   * `onStatement` is told every statement before it runs (its text and parameters): tests compare
   * them with `totes compile`. `connections`: at most this many statements run at once (1: one at a
   * time, in the order sent).
   */
  constructor(
    private readonly onStatement?: (sql: string, params: readonly DuckDBValue[]) => void,
    private readonly connections = DUCKDB_CONNECTIONS,
  ) {
    if (!Number.isInteger(connections) || connections < 1) throw new Error(`DuckDB connections must be a whole number of at least 1, got ${connections}`);
  }

  private instance?: Promise<DuckDBInstance>;
  /** Every connection opened (or being opened), and those free now. */
  private readonly opened: Promise<DuckDBConnection>[] = [];
  private readonly idle: DuckDBConnection[] = [];
  /** Sessions waiting for a connection, in the order they asked. */
  private readonly waiting: ((connection: DuckDBConnection) => void)[] = [];
  /** Sessions running or waiting: close() waits for them. */
  private readonly sessions = new Set<Promise<unknown>>();

  /** Opens the instance and a first connection now (they open on first use otherwise). */
  async open(): Promise<void> {
    await this.session(async () => undefined);
  }

  /**
   * Runs `work` with a connection of its own, free of any other statement until `work` ends
   * (several statements in a row, such as a batch's parse and the COPY reading it, run on it undisturbed). Waits
   * for a free connection when `connections` are busy.
   */
  session<T>(work: (session: DuckDbSession) => Promise<T>): Promise<T> {
    const running = (async () => {
      const connection = await this.acquire();
      try {
        return await work(new DuckDbSession(connection, this.onStatement));
      } finally {
        this.release(connection);
      }
    })();
    const tracked = running.catch(() => undefined);
    this.sessions.add(tracked);
    void tracked.then(() => this.sessions.delete(tracked));
    return running;
  }

  /** Closes the connections and the instance once the sessions are done; true when one was open. */
  async close(): Promise<boolean> {
    const instance = this.instance;
    if (!instance) return false;
    while (this.sessions.size) await Promise.all([...this.sessions]);
    this.instance = undefined;
    const connections = await Promise.all(this.opened.splice(0));
    this.idle.length = 0;
    for (const connection of connections) connection.closeSync();
    (await instance).closeSync();
    return true;
  }

  private async acquire(): Promise<DuckDBConnection> {
    const free = this.idle.pop();
    if (free) return free;
    if (this.opened.length < this.connections) {
      const connecting = this.connect();
      this.opened.push(connecting);
      // A connection that could not open is not one: the next session tries again.
      connecting.catch(() => this.opened.splice(this.opened.indexOf(connecting), 1));
      return connecting;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: DuckDBConnection): void {
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }

  /** A new connection to the instance; the first one creates the instance and its macros, which every connection then sees. */
  private async connect(): Promise<DuckDBConnection> {
    let creating = this.instance;
    if (!creating) {
      creating = this.instance = (async () => {
        const instance = await DuckDBInstance.create(':memory:');
        const setup = await instance.connect();
        try {
          for (const macro of DUCKDB_TRINO_MACROS) await setup.run(macro.sql);
        } finally {
          setup.closeSync();
        }
        return instance;
      })();
    }
    return (await creating).connect();
  }
}

/** One connection of the client, held by one session: statements run one after the other on it. */
export class DuckDbSession {
  constructor(
    private readonly connection: DuckDBConnection,
    private readonly onStatement?: (sql: string, params: readonly DuckDBValue[]) => void,
  ) {}

  /** Runs a statement with parameters (`$1`…) and returns its rows; a failure names `where`. */
  async run(sql: string, params: readonly DuckDBValue[], where: string): Promise<Record<string, unknown>[]> {
    this.onStatement?.(sql, params);
    try {
      const reader = await this.connection.runAndReadAll(sql, params.length ? [...params] : undefined);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } catch (err) {
      throw new Error(`${where} failed on DuckDB: ${(err as Error).message}`);
    }
  }

  /** Runs a read-only query: anything but a SELECT is refused before it runs. `original` names it in errors. */
  async select(sql: string, params: readonly DuckDBValue[], original: string): Promise<Record<string, unknown>[]> {
    let prepared;
    try {
      prepared = await this.connection.prepare(sql);
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
