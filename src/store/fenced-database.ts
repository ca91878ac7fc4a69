/**
 * A view of a database whose every write transaction first runs a check in the same transaction
 * (the helper service's lease fence): the check and the writes commit together or not at all.
 */
import type { Database, SqlExecutor, TransactionMode } from './database.js';

export function fencedDatabase(database: Database, check: (tx: SqlExecutor) => Promise<void>): Database {
  return {
    engine: database.engine,
    transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      if (mode === 'read') return database.transaction(mode, fn);
      return database.transaction(mode, async (tx) => {
        await check(tx);
        return fn(tx);
      });
    },
    isConflict: (error) => database.isConflict(error),
    version: () => database.version(),
    // The view does not own the connection: closing it closes nothing.
    close: async () => undefined,
  };
}
