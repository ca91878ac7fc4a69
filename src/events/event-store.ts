/**
 * Reading and advancing the outbox: sequencing committed events, reading them in order, and each
 * handler's stored progress (its cursor, its current retry state, its dead letters), so that a
 * restarted service resumes exactly where it stopped.
 */
import { inParts } from '../ledger/multi-row.js';
import type { Database, SqlExecutor } from '../store/database.js';
import { RETRY_POLICY_DEFAULT, runManagedTransaction } from '../store/managed-transaction.js';
import type { CryptoAssetsEvent, EventName, TxUpdatePayload } from './types.js';

/** Events sequenced per run at most, to keep each transaction short. */
const SEQUENCE_BATCH = 1_000;

/** Key of the PostgreSQL advisory lock that queues sequencer runs ("CAseq" in ASCII). */
const SEQUENCER_LOCK = 0x4341736571;

function write<T>(database: Database, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  return runManagedTransaction(database, fn, { mode: 'write', policy: RETRY_POLICY_DEFAULT });
}

function read<T>(database: Database, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  return runManagedTransaction(database, fn, { mode: 'read', policy: RETRY_POLICY_DEFAULT });
}

/**
 * Give committed, unsequenced events their public ids (`seq`), in the order they were written.
 * The helper service runs this every round, and `EventsApi.after` before it reads, so that an
 * application sees its events without a service. Any number of processes may run it at once:
 * on PostgreSQL each run first takes a transaction-scoped advisory lock, so runs queue one behind
 * the other, and runs at READ COMMITTED: the statements after the lock see everything committed
 * before it (the previous run's seq included), and the run takes no predicate locks — a reader
 * polling `after()` in a tight loop cannot make the ledger's SERIALIZABLE transactions abort.
 * SQLite's write lock serialises runs by itself. Hence ids increase in the order events become
 * visible, an event whose transaction committed late still gets the next id (none is skipped
 * behind a reader's back), and no event gets two ids (the UNIQUE index on seq stands guard).
 * @returns how many were sequenced.
 */
export async function sequenceEvents(database: Database): Promise<number> {
  return runManagedTransaction(
    database,
    async (tx) => {
      if (database.engine === 'postgres') await tx.run(`SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK})`);
      const rows = await tx.all<{ id: unknown }>(`SELECT id FROM cryptoassets_event WHERE seq IS NULL ORDER BY id LIMIT ${SEQUENCE_BATCH}`);
      if (rows.length === 0) return 0;
      const top = await tx.get<{ top: unknown }>('SELECT COALESCE(MAX(seq), 0) AS top FROM cryptoassets_event');
      let seq = BigInt(String(top?.top ?? 0));
      const now = new Date().toISOString();
      // One UPDATE per part, not one per event: an intake of thousands of deposits writes as many
      // events, and on SQLite each statement here holds up the service's event loop.
      for (const part of inParts(rows)) {
        await tx.run(
          `UPDATE cryptoassets_event SET seq = v.column2, sequenced_at = ?
           FROM (VALUES ${part.map(() => '(CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ')}) AS v
           WHERE cryptoassets_event.id = v.column1`,
          [now, ...part.flatMap((row) => [BigInt(String(row.id)), ++seq])],
        );
      }
      return rows.length;
    },
    { mode: 'committed', policy: RETRY_POLICY_DEFAULT },
  );
}

/**
 * Sequence whatever is committed and not yet sequenced; a read first, so that a reader takes no
 * write lock when there is nothing to do. @returns how many were sequenced.
 */
export async function sequenceCommitted(database: Database): Promise<number> {
  const waiting = await read(database, (tx) => tx.get('SELECT id FROM cryptoassets_event WHERE seq IS NULL LIMIT 1'));
  return waiting ? sequenceEvents(database) : 0;
}

interface EventRow extends Record<string, unknown> {
  seq: unknown;
  name: string;
  payload: string;
  created_at: unknown;
}

function eventFromRow(row: EventRow): CryptoAssetsEvent {
  const createdAt = row.created_at instanceof Date ? row.created_at.toISOString() : new Date(String(row.created_at)).toISOString();
  return { id: String(row.seq), name: row.name as EventName, createdAt, data: JSON.parse(row.payload) as TxUpdatePayload };
}

/** Sequenced events with id greater than `after`, in order. */
export async function eventsAfter(database: Database, after: bigint, limit = 100): Promise<CryptoAssetsEvent[]> {
  const rows = await read(database, (tx) =>
    tx.all<EventRow>('SELECT seq, name, payload, created_at FROM cryptoassets_event WHERE seq > ? ORDER BY seq LIMIT ?', [
      after,
      Math.min(Math.max(limit, 1), 1_000),
    ]),
  );
  return rows.map(eventFromRow);
}

/** One event by id, if sequenced. */
export async function eventById(database: Database, seq: bigint): Promise<CryptoAssetsEvent | undefined> {
  const row = await read(database, (tx) =>
    tx.get<EventRow>('SELECT seq, name, payload, created_at FROM cryptoassets_event WHERE seq = ?', [seq]),
  );
  return row ? eventFromRow(row) : undefined;
}

/** The highest sequenced event id (0 when none). */
export async function latestEventId(database: Database): Promise<bigint> {
  const row = await read(database, (tx) => tx.get<{ top: unknown }>('SELECT COALESCE(MAX(seq), 0) AS top FROM cryptoassets_event'));
  return BigInt(String(row?.top ?? 0));
}

/** A handler's stored progress. */
export interface HandlerProgress {
  readonly name: string;
  /** Every event up to this id was delivered or dead-lettered. */
  readonly deliveredSeq: bigint;
  /** Failed attempts at the next event. */
  readonly attempts: number;
  /** Not before this time (ms since epoch) is the next event tried again. */
  readonly nextAttemptAtMs: number;
  readonly lastError: string | null;
}

/** A handler's progress, created (at the very beginning: every event is delivered) on first use. */
export async function handlerProgress(database: Database, name: string): Promise<HandlerProgress> {
  return write(database, async (tx) => {
    let row = await tx.get<Record<string, unknown>>('SELECT * FROM cryptoassets_event_handler WHERE name = ?', [name]);
    if (!row) {
      await tx.run(
        'INSERT INTO cryptoassets_event_handler (name, delivered_seq, attempts, next_attempt_at_ms, updated_at) VALUES (?, 0, 0, 0, ?)',
        [name, new Date().toISOString()],
      );
      row = { name, delivered_seq: 0, attempts: 0, next_attempt_at_ms: 0, last_error: null };
    }
    return {
      name,
      deliveredSeq: BigInt(String(row.delivered_seq)),
      attempts: Number(row.attempts),
      nextAttemptAtMs: Number(row.next_attempt_at_ms),
      lastError: (row.last_error as string | null) ?? null,
    };
  });
}

/** The handler accepted event `seq`: move its cursor on. */
export async function recordDelivered(database: Database, name: string, seq: bigint): Promise<void> {
  await write(database, (tx) =>
    tx.run(
      'UPDATE cryptoassets_event_handler SET delivered_seq = ?, attempts = 0, next_attempt_at_ms = 0, last_error = NULL, updated_at = ? WHERE name = ? AND delivered_seq < ?',
      [seq, new Date().toISOString(), name, seq],
    ),
  );
}

/** The handler failed event `seq` again; try again at `nextAttemptAtMs`. */
export async function recordFailure(
  database: Database,
  name: string,
  attempts: number,
  nextAttemptAtMs: number,
  error: string,
): Promise<void> {
  await write(database, (tx) =>
    tx.run('UPDATE cryptoassets_event_handler SET attempts = ?, next_attempt_at_ms = ?, last_error = ?, updated_at = ? WHERE name = ?', [
      attempts,
      nextAttemptAtMs,
      error.slice(0, 2_000),
      new Date().toISOString(),
      name,
    ]),
  );
}

/** Give up on event `seq` for this handler: keep it as a dead letter and move the cursor on. */
export async function deadLetter(database: Database, name: string, seq: bigint, attempts: number, error: string): Promise<void> {
  await write(database, async (tx) => {
    const now = new Date().toISOString();
    await tx.run(`INSERT INTO cryptoassets_event_dead_letter (handler, seq, attempts, last_error, dead_at) VALUES (?, ?, ?, ?, ?)`, [
      name,
      seq,
      attempts,
      error.slice(0, 2_000),
      now,
    ]);
    await tx.run(
      'UPDATE cryptoassets_event_handler SET delivered_seq = ?, attempts = 0, next_attempt_at_ms = 0, last_error = ?, updated_at = ? WHERE name = ?',
      [seq, error.slice(0, 2_000), now, name],
    );
  });
}

export interface DeadLetter {
  readonly handler: string;
  readonly eventId: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly deadAt: string;
  readonly redeliveryRequested: boolean;
}

/** Dead letters, of one handler or all. */
export async function listDeadLetters(database: Database, handler?: string): Promise<DeadLetter[]> {
  const rows = await read(database, (tx) =>
    handler === undefined
      ? tx.all('SELECT * FROM cryptoassets_event_dead_letter ORDER BY handler, seq')
      : tx.all('SELECT * FROM cryptoassets_event_dead_letter WHERE handler = ? ORDER BY seq', [handler]),
  );
  return rows.map((row) => ({
    handler: String(row.handler),
    eventId: String(row.seq),
    attempts: Number(row.attempts),
    lastError: (row.last_error as string | null) ?? null,
    deadAt: row.dead_at instanceof Date ? row.dead_at.toISOString() : String(row.dead_at),
    redeliveryRequested: row.redeliver_requested_at !== null && row.redeliver_requested_at !== undefined,
  }));
}

/**
 * Ask for dead letters to be delivered again (all of a handler's, or one). The dispatcher sends
 * them before the handler's next new event; a dead letter that fails again stays dead.
 * @returns how many were marked.
 */
export async function requestRedelivery(database: Database, handler: string, eventId?: bigint): Promise<number> {
  return write(database, (tx) =>
    eventId === undefined
      ? tx.run('UPDATE cryptoassets_event_dead_letter SET redeliver_requested_at = ? WHERE handler = ?', [
          new Date().toISOString(),
          handler,
        ])
      : tx.run('UPDATE cryptoassets_event_dead_letter SET redeliver_requested_at = ? WHERE handler = ? AND seq = ?', [
          new Date().toISOString(),
          handler,
          eventId,
        ]),
  );
}

/** Dead letters waiting for redelivery. */
export async function redeliveriesDue(database: Database, handler: string): Promise<bigint[]> {
  const rows = await read(database, (tx) =>
    tx.all<{ seq: unknown }>(
      'SELECT seq FROM cryptoassets_event_dead_letter WHERE handler = ? AND redeliver_requested_at IS NOT NULL ORDER BY seq',
      [handler],
    ),
  );
  return rows.map((row) => BigInt(String(row.seq)));
}

/** Settle a redelivery: delivered (the dead letter goes) or failed again (stays, request cleared). */
export async function settleRedelivery(database: Database, handler: string, seq: bigint, error: string | null): Promise<void> {
  await write(database, (tx) =>
    error === null
      ? tx.run('DELETE FROM cryptoassets_event_dead_letter WHERE handler = ? AND seq = ?', [handler, seq])
      : tx.run(
          'UPDATE cryptoassets_event_dead_letter SET redeliver_requested_at = NULL, attempts = attempts + 1, last_error = ? WHERE handler = ? AND seq = ?',
          [error.slice(0, 2_000), handler, seq],
        ),
  );
}
