/**
 * Real databases for tests: a fresh SQLite file (WAL) or a fresh PostgreSQL schema per test.
 *
 * PostgreSQL is reached at CRYPTOASSETS_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/postgres).
 * When it is unreachable, its suites are skipped with a printed reason — except where
 * CRYPTOASSETS_REQUIRE_INTEGRATION=1 or CI=true, where an unreachable PostgreSQL fails the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { EngineName } from '../../src/store/database.js';
import { withDefaultUser } from '../../src/store/postgres/postgres-database.js';
import type { DatabaseOptions } from '../../src/store/open.js';

export const POSTGRES_URL = withDefaultUser(process.env.CRYPTOASSETS_TEST_POSTGRES_URL ?? 'postgresql://127.0.0.1:5432/postgres');

/** Integration suites must run (CI), not skip. */
export const INTEGRATION_REQUIRED = process.env.CRYPTOASSETS_REQUIRE_INTEGRATION === '1' || process.env.CI === 'true';

let postgresReachable: Promise<boolean> | undefined;

/** Whether PostgreSQL answers; memoised per test file. */
export function isPostgresReachable(): Promise<boolean> {
  postgresReachable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return postgresReachable;
}

/**
 * The engines a suite should run on. SQLite always; PostgreSQL when reachable, or — when
 * integration is required — always, so that an unreachable server fails loudly.
 */
export async function enginesUnderTest(): Promise<EngineName[]> {
  if (INTEGRATION_REQUIRED || (await isPostgresReachable())) return ['sqlite', 'postgres'];
  console.warn(`PostgreSQL at ${POSTGRES_URL} is unreachable: its test variants are skipped (set CI=true to require them)`);
  return ['sqlite'];
}

/** A database for one test, and how to throw it away. */
export interface TestDatabase {
  readonly engine: EngineName;
  readonly options: DatabaseOptions;
  /** Connection string (PostgreSQL) or file path (SQLite), for child processes. */
  readonly location: string;
  drop(): Promise<void>;
}

let counter = 0;

/** A fresh, empty database of the engine. */
export async function createTestDatabase(engine: EngineName): Promise<TestDatabase> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-test-'));
    const path = join(dir, 'ledger.sqlite');
    return {
      engine,
      options: { kind: 'sqlite', path },
      location: path,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `test_${process.pid}_${Date.now().toString(36)}_${++counter}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const url = withSearchPath(POSTGRES_URL, schema);
  return {
    engine,
    options: { kind: 'postgres', url, poolSize: 20 },
    location: url,
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A connection string whose sessions use `schema` first, so each test has its own tables. */
function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}
