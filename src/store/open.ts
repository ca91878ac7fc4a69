/**
 * Open the database an installation is configured for. The store never imports configuration; any
 * object of these shapes will do (the parsed `database` config section is one).
 */
import type { Database } from './database.js';
import { PostgresDatabase } from './postgres/postgres-database.js';
import { SqliteDatabase } from './sqlite/sqlite-database.js';

export type DatabaseOptions =
  | {
      readonly kind: 'sqlite';
      readonly path: string;
      readonly synchronous?: 'full' | 'normal';
      readonly clock?: () => number;
      readonly lockWaitMs?: number;
    }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly poolSize?: number;
      readonly connectTimeoutMs?: number;
      readonly onIdleError?: (error: Error) => void;
    };

/** Open a SQLite file (created if missing) or a PostgreSQL pool. */
export function openDatabase(options: DatabaseOptions): Database {
  if (options.kind === 'sqlite') return new SqliteDatabase(options);
  return new PostgresDatabase(options);
}
