/**
 * Seeds a source database as the bench does (seedTotesys, scale = orders / 7000, seed 1, replica role
 * while seeding, then VACUUM ANALYZE), for full-load-profile.ts:
 *
 *   tsx test/bench/full-load-seed.ts BASE_URL DBNAME ORDERS   # the database is dropped and created
 */
import pg from 'pg';
import { seedTotesys } from '../../functions/totesys/seed';
async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url }); await c.connect();
  try { await c.query(text); } finally { await c.end(); }
}
function withDb(url: string, db: string): string { const u = new URL(url); u.pathname = `/${db}`; return u.toString(); }
async function main(): Promise<void> {
  const [base, db, orders] = process.argv.slice(2);
  const admin = withDb(base, 'postgres');
  await sql(admin, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  await sql(admin, `CREATE DATABASE "${db}"`);
  await sql(admin, `ALTER DATABASE "${db}" SET session_replication_role = replica`);
  const t0 = performance.now();
  await seedTotesys(withDb(base, db), { scale: Number(orders) / 7000, seed: 1, asOf: new Date(Date.now() - 86_400_000) });
  await sql(admin, `ALTER DATABASE "${db}" RESET session_replication_role`);
  await sql(withDb(base, db), 'VACUUM ANALYZE');
  console.log(`seeded ${db} ${orders} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
void main();
