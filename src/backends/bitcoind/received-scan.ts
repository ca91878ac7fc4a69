/**
 * Paging through a bitcoind wallet's history oldest first, with cursors that stay valid while new
 * transactions arrive. Used by `BitcoindBackend.listReceived`.
 *
 * What the node offers: `listtransactions "*" count skip` lists the wallet's entries (one per
 * output and direction) in the order the wallet first saw each transaction, which never changes;
 * but `skip` counts from the NEWEST entry, so every arrival shifts every offset. Entries of one
 * transaction are always adjacent.
 *
 * How positions stay stable: a cursor records
 * - `a`, the txid of the last entry handed out (the anchor),
 * - `r`, how many entries were newer than it at that moment,
 * - `h`, the txid of the newest entry at that moment (the head), and
 * - `k`, how many entries were at or older than the anchor (a fallback hint).
 * Resuming, the head is looked up among the newest entries: its index is the number of arrivals
 * since, so the anchor now sits at index `r + arrivals` from the newest. The next window is
 * fetched from there with a few extra older entries, and the anchor is searched for inside it;
 * only entries after the anchor's last entry are handed out. Because a transaction's entries are
 * adjacent, this neither repeats nor skips anything even when the estimate is off by a few (an
 * arrival racing with the calls). When the anchor is not where expected, it is searched for over
 * the whole list. Only when it vanished altogether (a received transaction that was double-spent
 * disappears from `listtransactions`) does the scan fall back to the position `k`, backed off by
 * one page: it may then repeat up to one page of entries, but it does not skip.
 *
 * Cost: the node builds `skip + count` entries for every `listtransactions` call, so a page deep
 * in a large wallet costs time proportional to the wallet's size on the node (the answer itself
 * stays one page). A full scan is for start-up and recovery; incremental sync should use
 * `listSinceBlock`.
 */
import { TXID_PATTERN } from '../backend.js';
import { BackendError } from '../../domain/errors.js';

/** The fields of a `listtransactions` entry that paging and searching need. */
export interface ListedEntry {
  readonly txid: string;
  readonly category: string;
  readonly comment?: string;
}

/** Windows of `listtransactions "*" count skip true`, each oldest first, fetched in one round trip. */
export interface Listing {
  windows(requests: readonly { readonly count: number; readonly skip: number }[]): Promise<ListedEntry[][]>;
}

/** A resumable position; see the module comment. */
export interface ScanPosition {
  /** Entries newer than the anchor when the position was made. */
  readonly r: number;
  /** Txid of the newest entry when the position was made. */
  readonly h: string;
  /** Txid of the last entry handed out. */
  readonly a: string;
  /** Entries at or older than the anchor when the position was made. */
  readonly k: number;
}

/** One step of a scan. */
export interface ScanStep {
  /** Txids of the entries handed out, each once, oldest first (receives and others alike). */
  readonly txids: readonly string[];
  /** Where to continue; null when the window reached the newest entry. */
  readonly next: ScanPosition | null;
}

/** Older entries fetched beyond the anchor's expected place, to absorb racing arrivals. */
const SLACK = 8;
/** Smallest window when looking for an entry among the newest ones. */
const LOOKUP_WINDOW_MIN = 32;
/** Largest window searched for the head on a normal resume: arrivals beyond this trigger recovery. */
const HEAD_LOOKUP_MAX = 8192;
/** Counting narrows by probes until the remaining range is this small, then lists it. */
const COUNT_LIST_RANGE = 256;
/** Attempts at a consistent first page while the wallet keeps changing under it. */
const FIRST_PAGE_ATTEMPTS = 3;

/** Take one step of `pageSize` entries from `position` (null: from the oldest entry). */
export async function scanStep(listing: Listing, position: ScanPosition | null, pageSize: number): Promise<ScanStep> {
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new RangeError(`listReceived: pageSize must be a positive integer, got ${String(pageSize)}`);
  }
  return position === null ? firstStep(listing, pageSize) : nextStep(listing, position, pageSize);
}

async function firstStep(listing: Listing, pageSize: number): Promise<ScanStep> {
  for (let attempt = 1; attempt <= FIRST_PAGE_ATTEMPTS; attempt++) {
    const total = await countEntries(listing);
    if (total === 0) return { txids: [], next: null };
    const skip = Math.max(0, total - pageSize);
    const count = total - skip + SLACK;
    // The head is read before the window: an arrival in between can only make the next step
    // overestimate the anchor's index, which the search inside the window absorbs.
    const [head, window] = await listing.windows([
      { count: 1, skip: 0 },
      { count, skip },
    ]);
    const headTxid = head?.[0]?.txid;
    // A full window means the list grew by SLACK or more since counting: the oldest entries may
    // lie beyond it. Count again.
    if (!window || window.length >= count || headTxid === undefined) continue;
    const taken = window.slice(0, pageSize);
    return finish(taken, window.length - taken.length + skip, headTxid, taken.length, null);
  }
  throw new BackendError('listReceived: the wallet changed too fast to find its oldest entries; try again', {
    retryable: true,
    code: 'node_busy',
  });
}

async function nextStep(listing: Listing, position: ScanPosition, pageSize: number): Promise<ScanStep> {
  const head = await locateNewest(listing, position.h, false);
  if (head.index !== undefined) {
    const expected = position.r + head.index;
    const skip = Math.max(0, expected - pageSize);
    const count = expected - skip + 1 + SLACK;
    const [window] = await listing.windows([{ count, skip }]);
    const anchorAt = lastIndexOf(window ?? [], position.a);
    if (window && anchorAt >= 0) {
      const taken = window.slice(anchorAt + 1, anchorAt + 1 + pageSize);
      const newer = window.length - (anchorAt + 1 + taken.length) + skip;
      return finish(taken, newer, head.newest ?? position.h, position.k + taken.length, position.a);
    }
  }
  return recoverStep(listing, position, pageSize);
}

/** The anchor is not where it should be: search the whole list for it, or fall back to `k`. */
async function recoverStep(listing: Listing, position: ScanPosition, pageSize: number): Promise<ScanStep> {
  const found = await locateNewest(listing, position.a, true);
  const all = found.entries;
  const newest = all[all.length - 1]?.txid;
  if (newest === undefined) return { txids: [], next: null };
  let start: number;
  if (found.index !== undefined) {
    start = all.length - found.index;
  } else {
    // The anchor vanished (a double-spent deposit leaves the list): back off one page, so that
    // removals before it cannot make the scan skip anything.
    start = Math.min(all.length, Math.max(0, position.k - pageSize));
  }
  const taken = all.slice(start, start + pageSize);
  // `all` is the whole list only when the anchor was not found; otherwise `k` stays a hint.
  const consumed = found.index !== undefined ? position.k + taken.length : start + taken.length;
  return finish(taken, all.length - start - taken.length, newest, consumed, found.index !== undefined ? position.a : null);
}

function finish(taken: readonly ListedEntry[], newer: number, head: string, consumed: number, previousAnchor: string | null): ScanStep {
  const txids: string[] = [];
  for (const entry of taken) {
    // Entries of the previous anchor's transaction were handed out with it (the transaction is
    // read whole), and a transaction's entries are adjacent, so comparing with the last is enough.
    if (entry.txid !== previousAnchor && entry.txid !== txids[txids.length - 1]) txids.push(entry.txid);
  }
  const last = taken[taken.length - 1]?.txid ?? previousAnchor;
  const next = newer > 0 && last !== null ? { r: newer, h: head, a: last, k: consumed } : null;
  return { txids, next };
}

/**
 * Find the newest entry of `txid` among the newest entries, in growing windows. `index` counts
 * from the newest entry (0 = newest); `entries` is the last window fetched (oldest first), which
 * is the whole list when the search reached the oldest entry. Without `exhaustive` the search
 * gives up after `HEAD_LOOKUP_MAX` entries.
 */
async function locateNewest(
  listing: Listing,
  txid: string,
  exhaustive: boolean,
): Promise<{ index: number | undefined; newest: string | undefined; entries: ListedEntry[] }> {
  let count = LOOKUP_WINDOW_MIN;
  let newest: string | undefined;
  for (;;) {
    const [window = []] = await listing.windows([{ count, skip: 0 }]);
    newest ??= window[window.length - 1]?.txid;
    const at = lastIndexOf(window, txid);
    if (at >= 0) return { index: window.length - 1 - at, newest, entries: window };
    if (window.length < count) return { index: undefined, newest, entries: window };
    if (!exhaustive && count >= HEAD_LOOKUP_MAX) return { index: undefined, newest, entries: window };
    count *= 4;
  }
}

/**
 * The number of entries, found with probes `listtransactions "*" 1 skip` (empty exactly when
 * `skip` is at least the count): powers of two until one is empty, halving the range, then one
 * listing of what is left. Probes cost the node work but return at most one entry each.
 */
export async function countEntries(listing: Listing): Promise<number> {
  let low = 0; // a skip known to return an entry
  let high: number | undefined; // a skip known to return nothing
  const [first] = await listing.windows([{ count: 1, skip: 0 }]);
  if (!first || first.length === 0) return 0;
  for (let step = 1; high === undefined; step *= 16) {
    const skips = [step, step * 2, step * 4, step * 8];
    const answers = await listing.windows(skips.map((skip) => ({ count: 1, skip })));
    for (let i = 0; i < skips.length; i++) {
      if ((answers[i]?.length ?? 0) > 0) low = skips[i]!;
      else {
        high = skips[i]!;
        break;
      }
    }
  }
  while (high - low > COUNT_LIST_RANGE) {
    const middle = Math.floor((low + high) / 2);
    const [probe] = await listing.windows([{ count: 1, skip: middle }]);
    if ((probe?.length ?? 0) > 0) low = middle;
    else high = middle;
  }
  if (high - low === 1) return high;
  const [rest = []] = await listing.windows([{ count: high - low - 1, skip: low + 1 }]);
  return low + 1 + rest.length;
}

function lastIndexOf(entries: readonly ListedEntry[], txid: string): number {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]?.txid === txid) return i;
  return -1;
}

/** Cursor text: a version prefix and the position as base64url JSON. Opaque to callers. */
const CURSOR_PREFIX = 'bitcoind1.';

/** Encode a position as an opaque cursor. */
export function encodeCursor(position: ScanPosition): string {
  return CURSOR_PREFIX + Buffer.from(JSON.stringify([position.r, position.h, position.a, position.k])).toString('base64url');
}

/** Decode a cursor made by `encodeCursor`. @throws BackendError `invalid_cursor` for anything else. */
export function decodeCursor(cursor: string): ScanPosition {
  const invalid = (): BackendError =>
    new BackendError(`listReceived: ${JSON.stringify(String(cursor)).slice(0, 80)} is not a cursor of this backend`, {
      retryable: false,
      code: 'invalid_cursor',
    });
  if (typeof cursor !== 'string' || !cursor.startsWith(CURSOR_PREFIX) || cursor.length > 1000) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(value) || value.length !== 4) throw invalid();
  const [r, h, a, k] = value as unknown[];
  const count = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  const txid = (t: unknown): t is string => typeof t === 'string' && TXID_PATTERN.test(t);
  if (!count(r) || !count(k) || !txid(h) || !txid(a)) throw invalid();
  return { r, h, a, k };
}
