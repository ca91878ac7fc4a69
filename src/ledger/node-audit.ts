/**
 * The balance audit: the books checked against the node wallet that backs them.
 *
 * ## What is compared
 *
 * One node wallet backs every ledger wallet of a coin, so the audit is per coin:
 *
 *     expected   = credited deposits + imports − withdrawals that left or may have left − fees
 *     difference = node balance − expected
 *
 * "Left or may have left" is every withdrawal that is not queued: those of closed broadcasts
 * (conflicted ones included) and those of broadcasts opened or under vetting. Queued withdrawals
 * are debited from their accounts but still in the node wallet, so `expected = accounts total +
 * queued withdrawals` whenever the ledger check holds: what the users own plus what is owed to
 * the recipients of queued withdrawals.
 *
 * The node balance is `getBalance(0)`. On bitcoind that is `getbalance "*" 0`: the wallet's
 * trusted balance, every confirmed output plus our own unconfirmed change, without unconfirmed
 * receives from others. A higher `minconf` is wrong for this comparison: bitcoind counts an
 * output only once the transaction that made it has `minconf` confirmations, so after every
 * broadcast `getbalance "*" 3` drops by the whole inputs spent, change included, until the change
 * is 3 blocks deep (measured on Litecoin Core 0.21: a 10 LTC wallet sending 1 LTC reads 8.99998590
 * at minconf 0 and 0 at minconf 1 and 3 until the next block). The in-memory chain counts
 * receives from 0 confirmations too.
 *
 * ## How a difference is explained
 *
 * - **the node holds less** (`difference < 0`): always a failure, `shortfall = −difference`. Money
 *   left the node wallet without the ledger (a batch paid twice, a send outside the ledger, a
 *   theft), or the node lost a credited deposit the ledger has not reversed yet
 *   (reorganisation). While a broadcast is in doubt the shortfall may be its network fee, which
 *   is booked only when the broadcast closes; the audit cannot tell that fee from a loss, so it
 *   still fails and says so: resolve the broadcast and audit again.
 * - **the node holds more**: explained, up to their amounts, by deposits seen but not credited
 *   yet (the node counts them from 1 confirmation, the ledger credits them at the threshold),
 *   by withdrawals of broadcasts in doubt (if they did not leave, they are still in the wallet)
 *   and by conflicted broadcasts (withdrawals and fee may be back in the wallet). Whatever those
 *   cannot explain is `unaccounted`: money on the node that the books never imported or
 *   credited (payments to addresses not in the ledger, mined coins, funding, another ledger
 *   sharing the node wallet). Not a failure unless `unaccountedFails`.
 *
 * An excess can hide a shortfall of the same size while it lasts: a deposit of 2 at 1
 * confirmation hides a loss of 1.5 until the deposit is credited, and then the audit fails.
 *
 * ## Reading both sides consistently
 *
 * The books are read before and after the node; when what the comparison uses changed in
 * between (a deposit credited, a broadcast opened or closed), the node is read again: without
 * that a broadcast closing between the two readings would look like a shortfall.
 */
import type { CoinBackend } from '../backends/backend.js';
import { BackendError } from '../domain/errors.js';
import type { CoinBook } from './coin-book.js';
import { type NodeBookFigures, sameNodeFigures } from './node-figures.js';

/** What an explanation item is about; see the module comment. */
export type NodeAuditItemKind =
  'queued_withdrawals' | 'incoming_deposits' | 'broadcasts_in_doubt' | 'conflicted_broadcasts' | 'unaccounted' | 'shortfall';

/** One line of the explanation of a difference. */
export interface NodeAuditItem {
  readonly kind: NodeAuditItemKind;
  /** Base units: the books' figure, or for `unaccounted` and `shortfall` the part of the difference. */
  readonly amount: bigint;
  /** How much of an excess on the node this item can account for, at most (0n: none). */
  readonly excessUpTo: bigint;
  /** One sentence for people. */
  readonly text: string;
}

/** The node wallet was read and compared with the books. */
export interface CheckedNodeAudit {
  readonly status: 'checked';
  /** No shortfall (and nothing unaccounted when `unaccountedFails`). */
  readonly ok: boolean;
  /** The `minConfirmations` the node balance was read with (0: see the module comment). */
  readonly minConfirmations: 0;
  /** `getBalance(0)` of the coin's backend. */
  readonly nodeBalance: bigint;
  /** The books' side, coin-wide. */
  readonly ledger: NodeBookFigures;
  /** `nodeBalance − ledger.expected`. */
  readonly difference: bigint;
  /** How much less than expected the node holds; 0n when it holds at least that. */
  readonly shortfall: bigint;
  /** The part of an excess that nothing in the books explains. */
  readonly unaccounted: bigint;
  /** The difference explained, item by item. */
  readonly explanations: readonly NodeAuditItem[];
  /** How many times the node was read until the books held still around a reading. */
  readonly readings: number;
  /** One line per failure, prefixed with the coin; empty when ok. */
  readonly problems: readonly string[];
}

/** The node wallet could not be compared with the books. */
export interface UncheckedNodeAudit {
  /**
   * `unreachable`: the backend failed to answer (`error` says why); `unsettled`: the books changed
   * during every reading of the node; `no_backend`: the coin was opened without a backend.
   */
  readonly status: 'unreachable' | 'unsettled' | 'no_backend';
  /** False unless `no_backend` (nothing to compare with, nothing claimed). */
  readonly ok: boolean;
  readonly error: string;
  /** The backend error's code, for `unreachable`. */
  readonly errorCode?: string;
  readonly problems: readonly string[];
}

/** The audit of one coin. */
export type NodeAudit = CheckedNodeAudit | UncheckedNodeAudit;

/** Options of the audit. */
export interface NodeAuditOptions {
  /** Money on the node that the books do not explain fails the audit too. Default false. */
  readonly unaccountedFails?: boolean;
  /** Readings of the node at most, while the books change around them. Default 5. */
  readonly attempts?: number;
  /** Pause between readings in milliseconds. Default 200. */
  readonly pauseMs?: number;
}

/** What the audit needs of a coin; `CoinLedger` (`app.coin(code)`) is one. */
export interface AuditableCoin {
  readonly code: string;
  read<T>(fn: (book: CoinBook) => Promise<T>): Promise<T>;
  readonly backend: Pick<CoinBackend, 'getBalance'>;
}

const ATTEMPTS_DEFAULT = 5;
const PAUSE_MS_DEFAULT = 200;

/**
 * Audit one coin: read the books, the node wallet's balance and the books again, and compare
 * (see the module comment for the accounting). For the helper service: `auditCoin(app.coin('btc'))`.
 *
 * Only a `BackendError` from the node is caught (reported `unreachable`, `ok: false`); any other
 * error is a bug and is thrown.
 */
export async function auditCoin(coin: AuditableCoin, options: NodeAuditOptions = {}): Promise<NodeAudit> {
  const attempts = Math.max(1, options.attempts ?? ATTEMPTS_DEFAULT);
  const pauseMs = options.pauseMs ?? PAUSE_MS_DEFAULT;
  const backend = coin.backend;
  for (let reading = 1; reading <= attempts; reading++) {
    if (reading > 1) await pause(pauseMs);
    const before = await coin.read((book) => book.nodeFigures());
    let nodeBalance: bigint;
    try {
      nodeBalance = await backend.getBalance(0);
    } catch (error) {
      if (!(error instanceof BackendError)) throw error;
      return unreachable(coin.code, error);
    }
    const after = await coin.read((book) => book.nodeFigures());
    if (!sameNodeFigures(before, after)) continue;
    const audit = compareWithNode(coin.code, after, nodeBalance, reading, options);
    // A broadcast being sent right now takes its fee from the node before the books know the fee:
    // give it the time to close before calling the shortfall.
    const sending = after.inDoubtBroadcasts.some((broadcast) => broadcast.state === 'opened');
    if (audit.shortfall > 0n && sending && reading < attempts) continue;
    return audit;
  }
  const error = `the books changed during each of ${attempts} readings of the node wallet`;
  return { status: 'unsettled', ok: false, error, problems: [`${coin.code}: not checked against the node: ${error}`] };
}

/** The audit result of a coin without a backend: nothing to compare with. */
export function noBackendAudit(code: string): UncheckedNodeAudit {
  return { status: 'no_backend', ok: true, error: `coin ${code} has no backend configured`, problems: [] };
}

/**
 * Compare the books' figures with a node balance read between two identical readings of them.
 * Pure; see the module comment for the accounting.
 */
export function compareWithNode(
  code: string,
  ledger: NodeBookFigures,
  nodeBalance: bigint,
  readings = 1,
  options: Pick<NodeAuditOptions, 'unaccountedFails'> = {},
): CheckedNodeAudit {
  const difference = nodeBalance - ledger.expected;
  const explanations: NodeAuditItem[] = [];
  if (ledger.queuedWithdrawals > 0n) {
    explanations.push({
      kind: 'queued_withdrawals',
      amount: ledger.queuedWithdrawals,
      excessUpTo: 0n,
      text: 'withdrawals queued or returned by a refused broadcast: debited from their accounts, still in the node wallet (part of the expected figure)',
    });
  }
  if (ledger.incomingDeposits > 0n) {
    explanations.push({
      kind: 'incoming_deposits',
      amount: ledger.incomingDeposits,
      excessUpTo: ledger.incomingDeposits,
      text: 'deposits seen but not credited yet (below the confirmation threshold): the node counts them before the ledger credits them (bitcoind from 1 confirmation)',
    });
  }
  if (ledger.inDoubtBroadcasts.length > 0) {
    const ids = ledger.inDoubtBroadcasts.map((broadcast) => `${broadcast.id} (${broadcast.wallet}, ${broadcast.state})`).join(', ');
    explanations.push({
      kind: 'broadcasts_in_doubt',
      amount: ledger.inDoubtWithdrawals,
      excessUpTo: ledger.inDoubtWithdrawals,
      text:
        `withdrawals of broadcasts that may or may not have left, counted as sent: ${ids}; if they did not leave, the node holds them;` +
        ' if they did, their fee is not booked yet and the node holds that fee less',
    });
  }
  if (ledger.conflictedBroadcastCount > 0) {
    const more = ledger.conflictedBroadcastCount - ledger.conflictedBroadcastIds.length;
    const ids = ledger.conflictedBroadcastIds.join(', ') + (more > 0 ? ` and ${more} more` : '');
    const amount = ledger.conflictedWithdrawals + ledger.conflictedFees;
    explanations.push({
      kind: 'conflicted_broadcasts',
      amount,
      excessUpTo: amount,
      text: `withdrawals and fees of broadcasts that lost to a conflicting transaction (${ids}), counted as sent: they may be unpaid and back in the node wallet`,
    });
  }
  const explainable = explanations.reduce((sum, item) => sum + item.excessUpTo, 0n);
  const shortfall = difference < 0n ? -difference : 0n;
  const unaccounted = difference > explainable ? difference - explainable : 0n;
  const problems: string[] = [];
  if (unaccounted > 0n) {
    explanations.push({
      kind: 'unaccounted',
      amount: unaccounted,
      excessUpTo: unaccounted,
      text:
        'the node holds more than the books explain: money never imported or credited (payments to addresses not in the ledger,' +
        ' mined coins, funding, another ledger sharing the node wallet); `import-balance` books it onto an account',
    });
    if (options.unaccountedFails)
      problems.push(`${code}: the node wallet holds ${unaccounted} base units that the ledger does not account for`);
  }
  if (shortfall > 0n) {
    const inDoubt = ledger.inDoubtBroadcasts.length > 0;
    explanations.push({
      kind: 'shortfall',
      amount: shortfall,
      excessUpTo: 0n,
      text:
        'the node holds less than the ledger expects: money left the node wallet without the ledger (a payment sent twice, a send' +
        ' outside the ledger, theft) or the node lost a credited deposit (reorganisation)' +
        (inDoubt ? '; or it is the unbooked fee of a broadcast in doubt: resolve the broadcast and audit again' : ''),
    });
    problems.unshift(`${code}: the node wallet holds ${shortfall} base units less than the ledger expects`);
  }
  return {
    status: 'checked',
    ok: problems.length === 0,
    minConfirmations: 0,
    nodeBalance,
    ledger,
    difference,
    shortfall,
    unaccounted,
    explanations,
    readings,
    problems,
  };
}

function unreachable(code: string, error: BackendError): UncheckedNodeAudit {
  return {
    status: 'unreachable',
    ok: false,
    error: error.message,
    errorCode: error.code,
    problems: [`${code}: not checked against the node: ${error.message}`],
  };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
