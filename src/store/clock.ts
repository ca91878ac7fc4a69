/**
 * The database's clock, for everything that several machines must agree on (the service lease,
 * when a broadcast was opened). Each machine's own clock may be wrong; the database server's one
 * clock (PostgreSQL) or the one machine that holds the file (SQLite) is the same for everybody.
 */
import type { EngineName } from './database.js';

/** An SQL expression for the database's current time in milliseconds since 1970, as an integer. */
export function nowMsSql(engine: EngineName): string {
  return engine === 'postgres'
    ? `CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)`
    : // Registered on every SQLite connection (sqlite-database.ts): the machine's clock, or a
      // simulated one in tests.
      'cryptoassets_now_ms()';
}
