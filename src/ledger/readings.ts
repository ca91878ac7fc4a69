/**
 * Node readings applied in order, and the chain cursor.
 *
 * Several processes read the node and apply what they read: the helper service (polling and
 * notifications), `scan-received`, an application importing its balance. A reading taken before
 * a reorganisation and applied after a newer one would undo what the newer one recorded (credit a
 * reversed deposit again). Each coin therefore has one register row holding the newest tip any
 * applied reading was taken at, with a sequence number that grows whenever a reading is applied
 * that began at the current number (and so whenever that tip changes):
 *
 * 1. before reading the node, a process takes a ticket: the register's current sequence number;
 * 2. it reads the node; the reading carries the tip it was taken at (see `ChainReading`);
 * 3. it applies the reading in one transaction that first checks the register:
 *    - the register holds the same tip: the reading describes the same blocks as the last one
 *      applied; it is applied (if the register has not changed since the ticket, under the next
 *      sequence number, so that readings of other tips begun earlier are refused);
 *    - the tip differs and the register has not changed since the ticket: nothing was applied
 *      since the reading began, so the reading is the newest; the register moves to its tip
 *      with the next sequence number, and the reading is applied;
 *    - otherwise a reading of another tip was applied after this one began, and nothing tells
 *      which of the two is newer: this one is refused (`StaleReading`) and read again.
 *
 * The sequence number a reading was applied under is also stored on every network transaction it
 * changed, and a reading under an older number never changes that row (a second guard that does
 * not depend on the register's reasoning).
 *
 * The same row holds the chain cursor: the tip of the last reading of everything that changed
 * since the previous cursor, moved in the transaction that applied it. Polling reads from the
 * cursor, so every wallet transaction — new deposits included — is found without notifications.
 */
import type { ChainTip } from '../backends/backend.js';
import { StaleReading } from '../domain/errors.js';
import type { CoinScope } from './context.js';
import { nowText } from './rows.js';

interface RegisterRow {
  readonly reading_seq: unknown;
  readonly tip_hash: string | null;
  readonly tip_height: unknown;
  readonly cursor_hash: string | null;
  readonly cursor_height: unknown;
}

/** The register's state. */
export interface ReadingRegister {
  /** Sequence number of the newest tip applied; 0 before any reading. */
  readonly seq: number;
  readonly tip: ChainTip | null;
  /** Where the next reading of changes starts; null before the first full scan. */
  readonly cursor: ChainTip | null;
}

async function registerRow(scope: CoinScope): Promise<RegisterRow | undefined> {
  return scope.tx.get<RegisterRow & Record<string, unknown>>(
    `SELECT reading_seq, tip_hash, tip_height, cursor_hash, cursor_height FROM ${scope.context.tables.chainState} WHERE id = 1`,
  );
}

/** The register as it is now; take `seq` as the ticket before reading the node. */
export async function readRegister(scope: CoinScope): Promise<ReadingRegister> {
  const row = await registerRow(scope);
  if (!row) return { seq: 0, tip: null, cursor: null };
  return {
    seq: Number(row.reading_seq),
    tip: row.tip_hash === null ? null : { hash: row.tip_hash, height: Number(row.tip_height) },
    cursor: row.cursor_hash === null ? null : { hash: row.cursor_hash, height: Number(row.cursor_height) },
  };
}

/**
 * Accept a reading taken at `tip` that began with `ticket`, or refuse it (see the module comment).
 * @returns the sequence number to apply it under.
 * @throws StaleReading
 */
export async function acceptReading(scope: CoinScope, tip: ChainTip, ticket: number): Promise<number> {
  const table = scope.context.tables.chainState;
  const row = await registerRow(scope);
  const now = nowText();
  if (!row) {
    if (ticket !== 0) throw new StaleReading(`the ${scope.context.coin.code} reading register was reset since this reading began`);
    await scope.tx.run(`INSERT INTO ${table} (id, reading_seq, tip_hash, tip_height, updated_at) VALUES (1, 1, ?, ?, ?)`, [
      tip.hash,
      tip.height,
      now,
    ]);
    return 1;
  }
  const seq = Number(row.reading_seq);
  if (row.tip_hash === tip.hash) {
    // Readings of one tip agree on every confirmation, whatever their order: accepted. But the
    // first one applied since the ticket must still move the sequence on, or a reading of
    // another tip that began before it — an older one, if the chain has since gone back to
    // this tip (a reorganisation seen at its fork point, `invalidateblock`) — would find the
    // sequence unchanged and be taken for the newest.
    if (seq !== ticket) return seq;
    await scope.tx.run(`UPDATE ${table} SET reading_seq = ?, updated_at = ? WHERE id = 1`, [seq + 1, now]);
    return seq + 1;
  }
  if (seq !== ticket) {
    throw new StaleReading(
      `a ${scope.context.coin.code} reading at block ${tip.height} (${tip.hash.slice(0, 16)}…) began before a reading at ` +
        `block ${String(row.tip_height)} was applied; read the node again`,
    );
  }
  await scope.tx.run(`UPDATE ${table} SET reading_seq = ?, tip_hash = ?, tip_height = ?, updated_at = ? WHERE id = 1`, [
    seq + 1,
    tip.hash,
    tip.height,
    now,
  ]);
  return seq + 1;
}

/**
 * Move the chain cursor to `tip`. With `expected`, only when the cursor is still there (a scan in
 * parts that began at `expected` must not move back a cursor another process moved on).
 * @returns whether the cursor moved.
 */
export async function moveCursor(scope: CoinScope, tip: ChainTip, expected?: ChainTip | null): Promise<boolean> {
  const table = scope.context.tables.chainState;
  const now = nowText();
  const row = await registerRow(scope);
  if (!row) {
    if (expected) return false;
    await scope.tx.run(
      `INSERT INTO ${table} (id, reading_seq, cursor_hash, cursor_height, scanned_at, updated_at) VALUES (1, 0, ?, ?, ?, ?)`,
      [tip.hash, tip.height, now, now],
    );
    return true;
  }
  if (expected !== undefined && (row.cursor_hash ?? null) !== (expected?.hash ?? null)) return false;
  await scope.tx.run(`UPDATE ${table} SET cursor_hash = ?, cursor_height = ?, scanned_at = ?, updated_at = ? WHERE id = 1`, [
    tip.hash,
    tip.height,
    now,
    now,
  ]);
  return true;
}
