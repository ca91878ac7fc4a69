/**
 * Bringing the ledger up to date with the chain: every path that reads the node and records what
 * it read goes through here, so every one of them takes a ticket first, applies its reading under
 * the register's rules (see `readings.ts`) and fails as a whole when it could not record
 * everything.
 *
 * - `syncWithChain`: everything that changed since the chain cursor (the whole history the
 *   first time, or with `full`), plus a look-up of tracked transactions the answer did not
 *   hold; moves the cursor in the transaction that applies the last part of the reading. The
 *   helper service runs it every poll period: deposits are found without any notification.
 * - `applyTransactions`: given txids (wallet notifications), read in one request and applied in
 *   one transaction.
 *
 * A reading whose answer is too large for the backend's cap is read in parts instead
 * (`listReceived` pages, halved while a page itself is over the cap); the cursor then moves to
 * the tip read before the first page, and only if nobody moved it meanwhile.
 */
import { ANSWER_TOO_LARGE, type ChainReading, type ChainTip } from '../backends/backend.js';
import { BackendError, LeaseLost, ScanIncomplete, StaleReading } from '../domain/errors.js';
import type { CoinLedger } from './coin-ledger.js';
import type { NetworkUpdate } from './tracking.js';

/** Transactions applied per database transaction when a reading is large. */
export const APPLY_CHUNK = 500;
/** Txids looked up in one reading at most. */
const LOOKUP_CHUNK = 200;
/** Times a reading refused as stale is taken again before the caller sees `StaleReading`. */
const STALE_ATTEMPTS = 4;

/** What one synchronisation did. */
export interface SyncResult {
  /** Transactions in the readings applied. */
  readonly transactions: number;
  /** Updates that changed something (deposits created, credited, reversed, confirmations). */
  readonly updates: readonly NetworkUpdate[];
  /** The cursor after the sync. */
  readonly cursor: ChainTip | null;
  /** Tracked transactions the changes did not hold, looked up by txid. */
  readonly lookedUp: number;
  /** Tracked transactions the backend's wallet does not know. */
  readonly unknown: readonly string[];
  /** True when the history was read in pages because one answer was over the size cap. */
  readonly inParts: boolean;
}

export interface SyncOptions {
  /** Read the whole history instead of the changes since the cursor. */
  readonly full?: boolean;
  /** Called with the number of transactions applied so far. */
  readonly onProgress?: (applied: number) => void;
  /** Transactions per listReceived page when reading in parts; default 500. */
  readonly pageSize?: number;
}

/** See the module comment. @throws StaleReading (after retries), ScanIncomplete, BackendError */
export async function syncWithChain(ledger: CoinLedger, options: SyncOptions = {}): Promise<SyncResult> {
  const backend = ledger.backend;
  for (let attempt = 1; ; attempt++) {
    const register = await ledger.read((book) => book.readingRegister());
    const from = options.full ? null : register.cursor;
    let changes;
    try {
      changes = await backend.changesSince(from, ledger.context.coin.trackingLimit);
    } catch (error) {
      if (error instanceof BackendError && error.code === ANSWER_TOO_LARGE) return syncInParts(ledger, register.cursor, options);
      throw error;
    }
    let updates: NetworkUpdate[];
    try {
      updates = await applyInChunks(ledger, changes, register.seq, true, options.onProgress);
    } catch (error) {
      if (error instanceof StaleReading && attempt < STALE_ATTEMPTS) continue;
      throw error;
    }
    const seen = new Set(changes.transactions.map((info) => info.txid));
    const missing = await lookUpMissingTracked(ledger, seen);
    return {
      transactions: changes.transactions.length,
      updates: [...updates, ...missing.updates],
      cursor: changes.tip,
      lookedUp: missing.lookedUp,
      unknown: missing.unknown,
      inParts: false,
    };
  }
}

/** What `applyTransactions` did. */
export interface AppliedTransactions {
  readonly updates: readonly NetworkUpdate[];
  /** Txids the backend's wallet does not know. */
  readonly unknown: readonly string[];
}

/**
 * Read `txids` in one backend request and apply them in one database transaction; a stale
 * reading is read again. @throws InvalidTxid (before any call), StaleReading, BackendError
 */
export async function applyTransactions(ledger: CoinLedger, txids: readonly string[]): Promise<AppliedTransactions> {
  if (txids.length === 0) return { updates: [], unknown: [] };
  for (let attempt = 1; ; attempt++) {
    const { seq } = await ledger.read((book) => book.readingRegister());
    const reading = await ledger.backend.readTransactions(txids);
    try {
      const updates = await applyInChunks(ledger, reading, seq, false);
      return { updates, unknown: reading.unknown };
    } catch (error) {
      if (error instanceof StaleReading && attempt < STALE_ATTEMPTS) continue;
      throw error;
    }
  }
}

/**
 * Apply a reading in chunks of `APPLY_CHUNK` transactions, one database transaction each, the
 * cursor moved (when asked) by the last. A chunk that fails for another reason than a stale
 * reading is applied one transaction at a time, to record what can be recorded and name what
 * cannot; the whole then fails with `ScanIncomplete` and the cursor stays.
 */
async function applyInChunks(
  ledger: CoinLedger,
  reading: ChainReading,
  ticket: number,
  moveCursor: boolean,
  onProgress?: (applied: number) => void,
): Promise<NetworkUpdate[]> {
  const all = reading.transactions;
  const updates: NetworkUpdate[] = [];
  const failed: string[] = [];
  let firstError: unknown;
  let start = 0;
  do {
    const chunk = all.slice(start, start + APPLY_CHUNK);
    const last = start + APPLY_CHUNK >= all.length;
    try {
      const applied = await ledger.transaction((book) =>
        book.applyReading({ tip: reading.tip, transactions: chunk }, ticket, { moveCursor: moveCursor && last && failed.length === 0 }),
      );
      updates.push(...applied.updates.filter(changedSomething));
    } catch (error) {
      // Not a problem of the data: stale (read again) or the lease lost (stop). Nothing to name.
      if (error instanceof StaleReading || error instanceof LeaseLost) throw error;
      firstError ??= error;
      for (const info of chunk) {
        try {
          const applied = await ledger.transaction((book) => book.applyReading({ tip: reading.tip, transactions: [info] }, ticket));
          updates.push(...applied.updates.filter(changedSomething));
        } catch (single) {
          if (single instanceof StaleReading || single instanceof LeaseLost) throw single;
          failed.push(info.txid);
        }
      }
      if (failed.length === 0) throw error; // the chunk failed but no transaction alone: not a data problem
    }
    start += APPLY_CHUNK;
    onProgress?.(Math.min(start, all.length));
  } while (start < all.length);
  if (failed.length > 0) throw new ScanIncomplete(failed, firstError);
  return updates;
}

/** Tracked transactions (below the tracking limit) that a reading of changes did not hold. */
async function lookUpMissingTracked(
  ledger: CoinLedger,
  seen: ReadonlySet<string>,
): Promise<{ updates: NetworkUpdate[]; lookedUp: number; unknown: readonly string[] }> {
  const tracked = await ledger.read((book) => book.trackedTransactions());
  const missing = [...new Set(tracked.map((item) => item.txid).filter((txid) => !seen.has(txid)))];
  const updates: NetworkUpdate[] = [];
  const unknown: string[] = [];
  // In bounded readings: after a long outage many may be missing, and one answer must stay small.
  for (let start = 0; start < missing.length; start += LOOKUP_CHUNK) {
    const applied = await applyTransactions(ledger, missing.slice(start, start + LOOKUP_CHUNK));
    updates.push(...applied.updates);
    unknown.push(...applied.unknown);
  }
  return { updates, lookedUp: missing.length, unknown };
}

/** The history in `listReceived` pages, each page a reading of its own. */
async function syncInParts(ledger: CoinLedger, startCursor: ChainTip | null, options: SyncOptions): Promise<SyncResult> {
  const backend = ledger.backend;
  // Halved whenever a page itself is over the answer cap, and kept for the pages after it.
  let pageSize = options.pageSize ?? APPLY_CHUNK;
  // Everything after this tip is in the next `changesSince(tip)`: the cursor may move here once
  // every page is recorded.
  const before = await backend.chainTip();
  const updates: NetworkUpdate[] = [];
  const seen = new Set<string>();
  let transactions = 0;
  let next: string | null = null;
  do {
    let page;
    for (let attempt = 1; ; attempt++) {
      const { seq } = await ledger.read((book) => book.readingRegister());
      try {
        page = await backend.listReceived(next, pageSize);
      } catch (error) {
        if (error instanceof BackendError && error.code === ANSWER_TOO_LARGE && pageSize > 1) {
          pageSize = Math.max(1, Math.floor(pageSize / 2));
          attempt--; // not a stale reading: the same page, smaller
          continue;
        }
        throw error;
      }
      try {
        updates.push(...(await applyInChunks(ledger, page, seq, false)));
        break;
      } catch (error) {
        if (error instanceof StaleReading && attempt < STALE_ATTEMPTS) continue;
        throw error;
      }
    }
    for (const info of page.transactions) seen.add(info.txid);
    transactions += page.transactions.length;
    options.onProgress?.(transactions);
    next = page.next;
  } while (next !== null);
  const moved = await ledger.transaction((book) => book.moveCursor(before, startCursor));
  const missing = await lookUpMissingTracked(ledger, seen);
  return {
    transactions,
    updates: [...updates, ...missing.updates],
    cursor: moved ? before : startCursor,
    lookedUp: missing.lookedUp,
    unknown: missing.unknown,
    inParts: true,
  };
}

function changedSomething(update: NetworkUpdate): boolean {
  return update.broadcasts.length > 0 || update.deposits.some((deposit) => deposit.change !== 'unchanged');
}
