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
