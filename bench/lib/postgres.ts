/**
 * The benchmark's own PostgreSQL database, dropped and created again for every run (and dropped at
 * the end). `BENCH_POSTGRES_URL` names it; default `postgresql://127.0.0.1:5432/cryptoassets_bench`.
 */
import pg from 'pg';
import { withDefaultUser } from '../../src/store/postgres/postgres-database.js';

export const BENCH_POSTGRES_URL = withDefaultUser(process.env.BENCH_POSTGRES_URL ?? 'postgresql://127.0.0.1:5432/cryptoassets_bench');

/** The same server, database `postgres`, for CREATE/DROP DATABASE. */
export function adminUrl(url = BENCH_POSTGRES_URL): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  // The name is put into DDL; refuse anything but a plain identifier, and never touch `postgres`.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name === 'postgres' || name.startsWith('template')) {
    throw new Error(`BENCH_POSTGRES_URL must name a plain, dedicated database (got ${JSON.stringify(name)})`);
  }
  return name;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, url = BENCH_POSTGRES_URL): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(url), connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether the server answers. */
export async function postgresAvailable(url = BENCH_POSTGRES_URL): Promise<string | undefined> {
  try {
    await withAdmin(async (client) => client.query('SELECT 1'), url);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Drop (if there) and create the benchmark database. */
export async function recreateDatabase(url = BENCH_POSTGRES_URL): Promise<void> {
  const name = databaseName(url);
  await withAdmin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  }, url);
}

/** Drop the benchmark database; errors are ignored (best effort at clean-up). */
export async function dropDatabase(url = BENCH_POSTGRES_URL): Promise<void> {
  const name = databaseName(url);
  await withAdmin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }, url).catch(() => undefined);
}
