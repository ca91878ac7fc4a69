/**
 * Counting what an operation really sends to the database, so that "round trips per transfer"
 * in the report is measured, not assumed.
 *
 * PostgreSQL: every `pg.Client#query` call is one round trip (pg neither pipelines nor batches
 * separate calls); the library's pool and the baselines' pools all use `pg.Client`, so wrapping
 * its prototype sees both. SQLite: every execution of a prepared statement (`run`, `get`, `all`,
 * `iterate`) and every `exec` is one call into the engine; there is no network, so only
 * statements are counted. Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, SET)
 * is counted as a round trip but not as a statement.
 *
 * The wrappers are installed only around a sequential calibration run (nothing else may use the
 * database meanwhile) and removed afterwards, so the timed measurements run on the bare drivers.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

const CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START\s+TRANSACTION|SET)\b/i;

/** What operations sent, per operation. */
export interface OperationCost {
  /** Round trips to the server (PostgreSQL only; undefined for SQLite). */
  readonly roundTrips?: number;
  /** Statements other than transaction control. */
  readonly statements: number;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;
type Patchable = Record<string, Method>;

function sqlText(argument: unknown): string {
  if (typeof argument === 'string') return argument;
  const text = (argument as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : '';
}

/** Wrap `names` on `target` with `onCall(this, args)`; returns the undo. */
function wrap(target: Patchable, names: readonly string[], onCall: (self: unknown, args: unknown[]) => void): () => void {
  const originals = names.map((name) => [name, target[name]!] as const);
  for (const [name, original] of originals) {
    target[name] = function (this: unknown, ...args: unknown[]) {
      onCall(this, args);
      return original.apply(this, args);
    };
  }
  return () => {
    for (const [name, original] of originals) target[name] = original;
  };
}

let sqliteStatementPrototype: Patchable | undefined;
function statementPrototype(): Patchable {
  if (!sqliteStatementPrototype) {
    const db = new BetterSqlite3(':memory:');
    sqliteStatementPrototype = Object.getPrototypeOf(db.prepare('SELECT 1')) as Patchable;
    db.close();
  }
  return sqliteStatementPrototype;
}

/**
 * Run `step` `times` times one after another with the driver of `engine` counted, and return
 * what one step sent on average.
 */
export async function measureCost(engine: 'postgres' | 'sqlite', times: number, step: () => Promise<unknown>): Promise<OperationCost> {
  let roundTrips = 0;
  let statements = 0;
  const undo: (() => void)[] = [];
  if (engine === 'postgres') {
    undo.push(
      wrap(pg.Client.prototype as unknown as Patchable, ['query'], (_self, args) => {
        roundTrips++;
        if (!CONTROL.test(sqlText(args[0]))) statements++;
      }),
    );
  } else {
    // A prepared statement's text is its `source`; `exec` takes the text itself.
    undo.push(
      wrap(statementPrototype(), ['run', 'get', 'all', 'iterate'], (self) => {
        if (!CONTROL.test((self as { source?: string }).source ?? '')) statements++;
      }),
      wrap(BetterSqlite3.prototype as unknown as Patchable, ['exec'], (_self, args) => {
        if (!CONTROL.test(sqlText(args[0]))) statements++;
      }),
    );
  }
  try {
    for (let i = 0; i < times; i++) await step();
  } finally {
    for (const restore of undo) restore();
  }
  return engine === 'postgres' ? { roundTrips: roundTrips / times, statements: statements / times } : { statements: statements / times };
}
