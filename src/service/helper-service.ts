/**
 * The helper service: runs beside the node and the application, and is the only process that
 * talks to the network on the ledger's behalf.
 *
 * - holds a fenced lease in the database (service/lease.ts): a second service stands by, and
 *   every write checks in its own transaction that this service's generation still holds it;
 * - every `poll_period` reads everything that changed on the chain since the chain cursor and
 *   records it (ledger/chain-sync.ts): deposits are found with no notification at all, and
 *   confirmations of tracked transactions are refreshed by the same reading;
 * - listens for wallet notifications, which only make that faster: notified txids are gathered
 *   and applied in batches;
 * - reconciles broadcasts a crash left open, once no send of them can still be on its way;
 * - broadcasts queued withdrawals every `broadcast_period`, one batch (one sendmany) per wallet,
 *   a refused batch split to isolate what the node refuses, sends stopped before the lease could
 *   expire, and a wallet whose node keeps failing backed off;
 * - reports all of it on the status server (JSON, HTML, Prometheus metrics).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CryptoAssets } from '../app.js';
import type { Config } from '../config/types.js';
import type { CoinLedger, LedgerLog } from '../ledger/coin-ledger.js';
import { createListener } from '../notify/index.js';
import type { ListenerStatus, NotificationListener } from '../notify/types.js';
import type { BlockioNotificationApi } from '../notify/blockio-api.js';
import { reconcileBroadcasts } from './broadcast-reconciler.js';
import { acquireLease, checkLease, holderProcessIsGone, instanceId, releaseLease } from './lease.js';
import { broadcastSettledCheck, leaseProblem, leaseTtlMs, requestTimeoutMs, SERVICE_LEASE, sendDeadline } from './timings.js';
import { applyTransactions } from '../ledger/chain-sync.js';
import { ConfigError } from '../domain/errors.js';
import { fencedDatabase } from '../store/fenced-database.js';
import type { WriteFence } from '../ledger/context.js';
import { auditCoin } from '../ledger/node-audit.js';
import { ANSWER_TOO_LARGE, DEADLINE_PASSED, REFUSAL_CODES } from '../backends/backend.js';
import { ServiceMetrics } from './metrics.js';
import { formatAmount } from '../domain/amounts.js';
import { PeriodicTask, type TaskStatus } from './periodic-task.js';
import type { NetworkUpdate } from '../ledger/tracking.js';
import type { Transaction } from '../ledger/records.js';
import { EventDispatcher, type HandlerStatus } from '../events/dispatcher.js';
import { createHandler } from '../events/handlers/index.js';
import type { EventHandler } from '../events/types.js';

export { SERVICE_LEASE } from './timings.js';
/** Withdrawal batches one broadcaster run sends per wallet at most (500 withdrawals each). */
const BATCHES_PER_RUN_MAX = 20;
/** Notified txids read and applied together at most. */
const NOTIFIED_BATCH_MAX = 200;
/** Backend error codes that come from a node that answered (see `markNode`). */
const NODE_ANSWERED_CODES: ReadonlySet<string> = new Set([ANSWER_TOO_LARGE, DEADLINE_PASSED, 'tip_moving', ...REFUSAL_CODES]);
/**
 * Answers of a node that is up but cannot serve the service: its wallet is not loaded (or not
 * named), or it is still warming up. Nothing syncs or sends until a person (or time) fixes it,
 * so they count as the node being out, like no answer at all. (A wallet locked for sending is
 * not among them: reads still work, so it would flap; its broadcasts back off and wait instead.)
 */
const NODE_NOT_SERVING_CODES: ReadonlySet<string> = new Set([
  'wallet_not_found',
  'wallet_not_specified',
  'node_warming_up',
  'wallet_locked',
]);
/** Audits in a row not taken because the books kept changing, after which the service is not ready. */
const UNSETTLED_AUDITS_NOT_READY = 3;
/** Failed rounds in a row after which a periodic task makes the service not ready. */
const TASK_FAILURES_NOT_READY = 3;
/** Longest pause of a wallet's broadcasts after repeated node errors. */
const BACKOFF_MAX_MS = 600_000;

export type ServiceState = 'created' | 'starting' | 'standby' | 'running' | 'stopping' | 'stopped';

/** Rows the dashboard lists per wallet at most (pending withdrawals, recent broadcasts and deposits). */
export const STATUS_ROWS_MAX = 10;

/** A queued withdrawal on the status page (amounts in base units and in coins, as text). */
export interface PendingWithdrawalStatus {
  readonly id: number;
  readonly amount: string;
  readonly amountBaseUnits: string;
  readonly address: string | null;
  readonly createdAt: string;
  readonly ageSeconds: number;
  /** Its account is frozen: it stays in the queue, no broadcast takes it, until the account is unfrozen. */
  readonly held: boolean;
}

/** A recent broadcast of the wallet on the status page. */
export interface BroadcastStatus {
  readonly id: number;
  readonly state: string;
  readonly txid: string | null;
  readonly fee: string | null;
  readonly conflicted: boolean;
  readonly at: string;
}

/** A recent deposit of the wallet on the status page. */
export interface DepositStatus {
  readonly id: number;
  readonly state: string;
  readonly txid: string | null;
  readonly amount: string;
  readonly address: string | null;
  readonly at: string;
}

/** What the status page shows for one wallet. */
export interface WalletStatus {
  readonly wallet: string;
  readonly queuedWithdrawals: number;
  /** Sum of the queued withdrawals in base units, as text. */
  readonly queuedBaseUnits: string;
  /**
   * Age of the oldest queued withdrawal a broadcast may take, or null when none waits. Withdrawals
   * held by a frozen account are left out: they wait for a person on purpose, not for the service.
   */
  readonly oldestQueuedAgeSeconds: number | null;
  /** Queued withdrawals of frozen accounts (counted in `queuedWithdrawals` too). */
  readonly heldWithdrawals: number;
  /** Queued withdrawals a broadcast may take that are older than `service.stuck_withdrawal_age`. */
  readonly stuckWithdrawals: number;
  /** The oldest queued withdrawals, at most STATUS_ROWS_MAX. */
  readonly pending: readonly PendingWithdrawalStatus[];
  /** The refused withdrawals with the node's reason, at most STATUS_ROWS_MAX. */
  readonly refused: readonly {
    readonly id: number;
    readonly amount: string;
    readonly address: string | null;
    readonly reason: string | null;
    readonly at: string;
  }[];
  /** The latest broadcasts and deposits, newest first, at most STATUS_ROWS_MAX each. */
  readonly recentBroadcasts: readonly BroadcastStatus[];
  readonly recentDeposits: readonly DepositStatus[];
  readonly openBroadcasts: readonly number[];
  readonly broadcastsToVet: readonly number[];
  /** Withdrawals the node refused, waiting for an operator to retry or cancel them. */
  readonly refusedWithdrawals: readonly number[];
  /** Broadcasts are paused after repeated node errors until then (ISO time), or null. */
  readonly backoffUntil: string | null;
  /** Sent broadcasts that conflict with the best chain: their withdrawals may be unpaid. */
  readonly conflictedBroadcasts: readonly number[];
}

/** What the status page shows for one coin. */
export interface CoinStatus {
  readonly coin: string;
  readonly network: string;
  readonly backend: string;
  readonly nodeReachable: boolean | null;
  readonly blockHeight: number | null;
  /** When this service first saw the current best block (ISO time), and how long ago. */
  readonly tipSeenAt: string | null;
  readonly tipAgeSeconds: number | null;
  readonly lastNodeError: string | null;
  readonly startupRescanDone: boolean;
  readonly trackedTransactions: number;
  readonly listener: ListenerStatus | null;
  readonly wallets: readonly WalletStatus[];
  /** Where the next reading of the chain starts (null before the first full scan). */
  readonly cursor: { readonly hash: string; readonly height: number } | null;
  /** The last balance audit against the node (every `service.audit_period`), or null before the first. */
  readonly audit: AuditStatus | null;
}

/** The status page's view of the last balance audit (amounts in base units, as text). */
export interface AuditStatus {
  readonly at: string;
  readonly status: 'checked' | 'unreachable' | 'unsettled' | 'no_backend';
  readonly ok: boolean;
  readonly difference: string | null;
  readonly shortfall: string | null;
  readonly unaccounted: string | null;
  readonly problems: readonly string[];
  /**
   * Audits since this result that could not be taken (the books kept changing while the node was
   * read, or the node did not answer), and when the latest was tried. Such an audit says nothing
   * new about the books, so the result above stands; UNSETTLED_AUDITS_NOT_READY in a row of the
   * books-kept-changing kind make the service not ready.
   */
  readonly missedInRow: number;
  readonly unsettledInRow: number;
  readonly lastTriedAt: string;
}

/** Whether the service is ready: running, and nothing waits for a person (see `readinessReasons`). */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface ServiceStatus {
  readonly state: ServiceState;
  readonly readiness: Readiness;
  readonly instance: string;
  readonly startedAt: string | null;
  readonly lease: {
    readonly held: boolean;
    readonly holder: string | null;
    readonly expiresAt: string | null;
    readonly generation: number | null;
  };
  readonly coins: readonly CoinStatus[];
  readonly events: { readonly latestId: string; readonly handlers: readonly HandlerStatus[] };
  readonly tasks: readonly TaskStatus[];
}

export interface HelperServiceOptions {
  /** Called when a part the service cannot work without has died; the CLI exits with code 2. */
  readonly onCritical?: (error: Error) => void;
  /** Lease length; tests shorten it (default: `service.lease_ttl`, see timings.ts). */
  readonly leaseTtlMs?: number;
  /** Event handlers given in code (in-process functions), in addition to the configured ones. */
  readonly handlers?: readonly EventHandler[];
  /** How often the dispatcher looks for new events; default 250 ms. */
  readonly eventPollMs?: number;
  /**
   * Run no timers: the caller drives the service step by step (`keepLease`, `syncOnce`,
   * `broadcastOnce`, `drainNotifications`, `dispatchEvents`). For the deterministic simulator.
   */
  readonly manual?: boolean;
  /** A monotonic clock in ms (default `performance.now`): lease renewal ages and send deadlines. */
  readonly clock?: () => number;
  /**
   * block.io's API of a coin, for a `blockio-webhook` channel with `manage: true` (it creates the
   * notification at start and deletes it at stop). Default: the coin's backend, when it offers
   * `notificationApi()` (the block.io backend).
   */
  readonly blockioNotificationApi?: (coin: string) => BlockioNotificationApi | undefined;
}

/** Per-wallet broadcast back-off after node errors. */
interface Backoff {
  failures: number;
  until: number;
}

/** Per-coin runtime state. */
interface CoinRuntime {
  /** The coin's ledger; while the lease is held, fenced by its generation. */
  ledger: CoinLedger;
  readonly unfenced: CoinLedger;
  /** Request time limit of the coin's backend (0 for the in-memory chain). */
  readonly timeoutMs: number;
  readonly backoff: Map<string, Backoff>;
  listener: NotificationListener | null;
  nodeReachable: boolean | null;
  blockHeight: number | null;
  /** The best block last seen, and when it was first seen (wall clock ms). */
  tip: { hash: string; seenAt: number } | null;
  lastNodeError: string | null;
  startupRescanDone: boolean;
  trackedTransactions: number;
  /** Notified txids waiting to be applied, in arrival order, each once. */
  readonly queue: Set<string>;
  /**
   * Serialises this process's readings of the node (notifications, polling), so they rarely
   * race each other; what makes an older reading harmless is the ledger's reading register.
   */
  readonly updates: Mutex;
  draining: Promise<void> | null;
  audit: AuditStatus | null;
}

export class HelperService {
  readonly metrics: ServiceMetrics;
  /** Identifies this process in the lease and logs. */
  readonly instance = instanceId(hostname(), randomBytes(3).toString('hex'));
  private state: ServiceState = 'created';
  private startedAt: Date | null = null;
  private leaseHeld = false;
  /** `now()` (monotonic) before the last successful renewal was asked for. */
  private leaseRenewedAt = 0;
  private generation: number | null = null;
  private leaseHolder: { holder: string; expiresAt: Date } | null = null;
  private readonly coins = new Map<string, CoinRuntime>();
  private readonly tasks: PeriodicTask[] = [];
  private readonly leaseTask: PeriodicTask;
  private readonly leaseTtlMs: number;
  private handlers: EventHandler[] = [];
  private dispatcher: EventDispatcher | undefined;

  constructor(
    private readonly app: CryptoAssets,
    private readonly config: Config,
    private readonly log: LedgerLog,
    private readonly options: HelperServiceOptions = {},
  ) {
    this.metrics = new ServiceMetrics(app.stats);
    this.leaseTtlMs = options.leaseTtlMs ?? leaseTtlMs(config);
    const problem = leaseProblem(this.leaseTtlMs, config);
    if (problem) throw new ConfigError(...problem);
    for (const code of app.coinCodes) {
      const ledger = app.coin(code);
      this.coins.set(code, {
        ledger,
        unfenced: ledger,
        timeoutMs: requestTimeoutMs(config, code),
        backoff: new Map(),
        listener: null,
        nodeReachable: null,
        blockHeight: null,
        tip: null,
        lastNodeError: null,
        startupRescanDone: false,
        trackedTransactions: 0,
        queue: new Set(),
        updates: new Mutex(),
        draining: null,
        audit: null,
      });
    }
    this.leaseTask = new PeriodicTask('lease', Math.max(100, Math.floor(this.leaseTtlMs / 3)), () => this.keepLease(), log);
  }

  /** Start: take the lease (or stand by until it can), then run everything. */
  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`the service was already started (${this.state})`);
    this.state = 'starting';
    this.startedAt = new Date();
    // Load every handler first: a missing module or export fails the start, not the first event.
    for (const [name, handlerConfig] of Object.entries(this.config.events)) this.handlers.push(await createHandler(name, handlerConfig));
    this.handlers.push(...(this.options.handlers ?? []));
    await this.startListeners();
    this.state = 'standby';
    if (!this.options.manual) this.leaseTask.start(); // manual: the caller calls keepLease()
  }

  /** Stop listeners and tasks, wait for work in flight, give the lease up. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    await this.leaseTask.stop();
    await Promise.all([...this.coins.values()].map((coin) => coin.listener?.stop()));
    await this.deactivate();
    await Promise.all([...this.coins.values()].map((coin) => coin.draining));
    for (const handler of this.handlers) await handler.close?.();
    if (this.leaseHeld) {
      await releaseLease(this.app.database, SERVICE_LEASE, this.instance).catch((error: unknown) =>
        this.log.warn({ err: errorText(error) }, 'could not release the service lease; it expires by itself'),
      );
      this.leaseHeld = false;
    }
    this.state = 'stopped';
  }

  /**
   * A snapshot for the status server; reads the database, never the node. Also sets the gauges
   * that describe the books (queues, ages), so the metrics are as fresh as the last page read.
   */
  async status(options: { recent?: boolean } = {}): Promise<ServiceStatus> {
    // The recent deposits are read from the whole deposit list: only for pages a person reads,
    // not for /metrics and /ready, which monitors ask often.
    const recent = options.recent ?? true;
    const coins: CoinStatus[] = [];
    const nowMs = Date.now();
    const ageSeconds = (at: Date) => Math.max(0, Math.floor((nowMs - at.getTime()) / 1000));
    for (const [code, coin] of this.coins) {
      const decimals = { decimals: coin.unfenced.context.coin.decimals };
      const { wallets, cursor } = await coin.unfenced.read(async (book) => {
        const result: WalletStatus[] = [];
        for (const wallet of await book.listWallets()) {
          const walletBook = await book.wallet(wallet.name);
          // Bounded reads: monitors ask /ready and /metrics every few seconds, and closed or
          // returned broadcasts and deposits only pile up (a down node returns one per round).
          const broadcasts = await walletBook.listBroadcasts(['opened', 'vetting']);
          const closed = await walletBook.listBroadcasts(['closed', 'returned'], { newest: STATUS_ROWS_MAX });
          const conflicted = await walletBook.listBroadcasts(['closed', 'returned'], { conflictedOnly: true });
          const pending = await walletBook.pendingWithdrawals();
          const deposits = recent ? await walletBook.deposits({ newest: STATUS_ROWS_MAX }) : [];
          const refused = await walletBook.refusedWithdrawals();
          const backoff = coin.backoff.get(wallet.name);
          // Only the held withdrawals' ids: listing every account to find the frozen ones made
          // each /ready and /metrics read grow with the number of accounts.
          const held = new Set(await walletBook.heldWithdrawalIds());
          const isHeld = (w: Transaction) => held.has(w.id);
          const oldest = pending
            .filter((w) => !isHeld(w))
            .reduce<Date | null>((min, w) => (min === null || w.createdAt < min ? w.createdAt : min), null);
          result.push({
            wallet: wallet.name,
            queuedWithdrawals: pending.length,
            queuedBaseUnits: pending.reduce((sum, w) => sum + w.amount, 0n).toString(),
            oldestQueuedAgeSeconds: oldest ? ageSeconds(oldest) : null,
            heldWithdrawals: pending.filter(isHeld).length,
            stuckWithdrawals: pending.filter((w) => !isHeld(w) && ageSeconds(w.createdAt) * 1000 > this.config.service.stuckWithdrawalAgeMs)
              .length,
            pending: [...pending]
              .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id - b.id)
              .slice(0, STATUS_ROWS_MAX)
              .map((w) => ({
                id: w.id,
                amount: formatAmount(w.amount, decimals),
                amountBaseUnits: w.amount.toString(),
                address: w.address,
                createdAt: w.createdAt.toISOString(),
                ageSeconds: ageSeconds(w.createdAt),
                held: isHeld(w),
              })),
            recentBroadcasts: [...broadcasts, ...closed]
              .sort((a, b) => b.id - a.id)
              .slice(0, STATUS_ROWS_MAX)
              .map((b) => ({
                id: b.id,
                state: b.state,
                txid: b.txid,
                fee: b.fee === null ? null : formatAmount(b.fee, decimals),
                conflicted: b.conflicted,
                at: (b.closedAt ?? b.openedAt ?? b.createdAt).toISOString(),
              })),
            recentDeposits: deposits.map((d) => ({
              id: d.id,
              state: d.state,
              txid: d.txid,
              amount: formatAmount(d.amount, decimals),
              address: d.address,
              at: (d.creditedAt ?? d.createdAt).toISOString(),
            })),
            openBroadcasts: broadcasts.filter((b) => b.state === 'opened').map((b) => b.id),
            broadcastsToVet: broadcasts.filter((b) => b.state === 'vetting').map((b) => b.id),
            refusedWithdrawals: refused.map((w) => w.id),
            refused: refused.slice(0, STATUS_ROWS_MAX).map((w) => ({
              id: w.id,
              amount: formatAmount(w.amount, decimals),
              address: w.address,
              reason: w.refusal,
              at: w.updatedAt.toISOString(),
            })),
            backoffUntil: backoff && backoff.until > this.now() ? new Date(Date.now() + backoff.until - this.now()).toISOString() : null,
            conflictedBroadcasts: conflicted.map((b) => b.id),
          });
        }
        return { wallets: result, cursor: (await book.readingRegister()).cursor };
      });
      const tipAgeSeconds = coin.tip ? Math.max(0, Math.floor((nowMs - coin.tip.seenAt) / 1000)) : null;
      coins.push({
        coin: code,
        network: coin.unfenced.context.network.name,
        backend: coin.unfenced.backend.kind,
        nodeReachable: coin.nodeReachable,
        blockHeight: coin.blockHeight,
        tipSeenAt: coin.tip ? new Date(coin.tip.seenAt).toISOString() : null,
        tipAgeSeconds,
        lastNodeError: coin.lastNodeError,
        startupRescanDone: coin.startupRescanDone,
        trackedTransactions: coin.trackedTransactions,
        listener: coin.listener?.status() ?? null,
        wallets,
        cursor,
        audit: coin.audit,
      });
    }
    const handlers = (await this.dispatcher?.status()) ?? [];
    const lease = {
      held: this.leaseHeld,
      holder: this.leaseHeld ? this.instance : (this.leaseHolder?.holder ?? null),
      expiresAt: this.leaseHolder?.expiresAt.toISOString() ?? null,
      generation: this.leaseHeld ? this.generation : null,
    };
    const tasks = [this.leaseTask, ...this.tasks].map((task) => task.status());
    const reasons = readinessReasons(this.state, lease, coins, handlers, this.config.service.stuckWithdrawalAgeMs, tasks);
    this.metrics.observeStatus(coins, handlers, reasons.length === 0);
    return {
      state: this.state,
      readiness: { ready: reasons.length === 0, reasons },
      instance: this.instance,
      startedAt: this.startedAt?.toISOString() ?? null,
      lease,
      coins,
      events: {
        // Read only: numbering events is a write, and the status page must not write (a standby serves it too).
        latestId: (await this.app.events.latestId({ sequence: false })).toString(),
        handlers,
      },
      tasks,
    };
  }

  /** Sequenced events after an id, for the status server's /events. */
  eventsAfter(after: bigint, limit: number) {
    return this.app.events.after(after, limit, { sequence: false });
  }

  private now(): number {
    return this.options.clock ? this.options.clock() : performance.now();
  }

  /** The service's state. */
  get currentState(): ServiceState {
    return this.state;
  }

  /** The lease generation this service works under while it holds the lease. */
  get leaseGeneration(): number | null {
    return this.leaseHeld ? this.generation : null;
  }

  private async startListeners(): Promise<void> {
    for (const [code, coin] of this.coins) {
      const notify = this.config.coins[code]?.walletnotify;
      if (!notify) continue;
      const api = this.options.blockioNotificationApi?.(code) ?? notificationApiOf(coin.unfenced.backend);
      const listener = createListener(notify, (txid) => this.notified(code, txid), this.log, {
        onFatal: (error) => {
          this.log.error({ coin: code, err: error.message }, 'wallet-notification listener died');
          this.options.onCritical?.(error);
        },
        ...(api ? { blockioWebhook: { api } } : {}),
      });
      await listener.start();
      coin.listener = listener;
      this.log.info({ coin: code, listener: listener.status().endpoint }, 'listening for wallet notifications');
    }
  }

  /**
   * Take or renew the lease; start working on taking it, stand by on losing it. Work stops
   * before the lease can have run out: sends check their deadline, every write its generation.
   */
  async keepLease(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const askedAt = this.now();
    let outcome;
    try {
      outcome = await acquireLease(this.app.database, SERVICE_LEASE, this.instance, this.leaseTtlMs, (holder) =>
        holderProcessIsGone(holder, hostname()),
      );
    } catch (error) {
      // Could not renew (database trouble). Stop working before the lease can have run out, so a
      // standby that takes it over never works beside us (the fence refuses our writes anyway).
      if (this.leaseHeld && this.now() - this.leaseRenewedAt > (this.leaseTtlMs * 2) / 3) {
        this.log.error({ err: errorText(error) }, 'could not renew the service lease in time; standing by');
        await this.standBy();
      }
      throw error;
    }
    if ('other' in outcome) {
      const other = outcome.other;
      if (this.leaseHeld) this.log.error({ holder: other.holder, generation: other.generation }, 'lost the service lease; standing by');
      else if (this.leaseHolder?.holder !== other.holder) {
        this.log.warn({ holder: other.holder, until: other.expiresAt.toISOString() }, 'another service holds the lease; standing by');
      }
      this.leaseHolder = other;
      if (this.leaseHeld) await this.standBy();
      this.state = 'standby';
      return;
    }
    const grant = outcome.held;
    if (this.leaseHeld && grant.generation !== this.generation) {
      // Our own lease had expired (a long pause) and was taken again under a new generation:
      // everything started under the old one is fenced off; start over.
      this.log.error({ from: this.generation, to: grant.generation }, 'the service lease had expired; taken again under a new generation');
      await this.standBy();
    }
    this.leaseRenewedAt = askedAt;
    this.leaseHolder = { holder: this.instance, expiresAt: new Date(grant.expiresAtMs) };
    if (!this.leaseHeld) {
      this.generation = grant.generation;
      this.leaseHeld = true;
      this.log.info({ instance: this.instance, generation: grant.generation }, 'holding the service lease; running');
      this.metrics.leaseHeld.set(1);
      this.activate();
    }
  }

  private async standBy(): Promise<void> {
    this.leaseHeld = false;
    this.state = 'standby';
    this.metrics.leaseHeld.set(0);
    await this.deactivate();
    // A standby's last audit says nothing of now: the holder's gauges speak for the books.
    for (const [code, coin] of this.coins) {
      coin.audit = null;
      this.metrics.auditOk.remove({ coin: code });
      this.metrics.auditDifference.remove({ coin: code });
      this.metrics.auditShortfall.remove({ coin: code });
    }
  }

  /** The fence of the current generation for one coin (see `WriteFence`). */
  private fence(coin: CoinRuntime, generation: number): WriteFence {
    const engine = this.app.database.engine;
    return {
      generation,
      check: (tx) => checkLease(tx, engine, SERVICE_LEASE, this.instance, generation),
      sendDeadline: () =>
        this.leaseHeld && this.generation === generation ? sendDeadline(this.leaseRenewedAt, this.leaseTtlMs, coin.timeoutMs) : -Infinity,
      now: () => this.now(),
    };
  }

  private activate(): void {
    this.state = 'running';
    const generation = this.generation!;
    const service = this.config.service;
    const check = (tx: Parameters<WriteFence['check']>[0]) =>
      checkLease(tx, this.app.database.engine, SERVICE_LEASE, this.instance, generation);
    this.dispatcher = new EventDispatcher(fencedDatabase(this.app.database, check), this.handlers, this.log, {
      pollMs: this.options.eventPollMs,
      retryBaseMs: service.eventRetryBaseMs,
    });
    for (const [code, coin] of this.coins) {
      coin.ledger = coin.unfenced.fenced(this.fence(coin, generation));
      coin.startupRescanDone = false;
      coin.backoff.clear();
      this.tasks.push(
        new PeriodicTask(`${code}:sync`, service.pollPeriodMs, () => this.syncOnce(code), this.log),
        new PeriodicTask(`${code}:broadcast`, service.broadcastPeriodMs, () => this.broadcastOnce(code), this.log),
        new PeriodicTask(`${code}:audit`, service.auditPeriodMs, () => this.auditOnce(code), this.log),
      );
      const resendAfter = service.resendUnprocessedAfterMs;
      if (resendAfter !== null) {
        this.tasks.push(
          new PeriodicTask(
            `${code}:resend-unprocessed`,
            Math.min(resendAfter, 60_000),
            async () => {
              const resent = await coin.ledger.transaction((book) => book.resendUnprocessed(resendAfter));
              if (resent > 0) {
                this.log.info({ coin: code, resent }, 'resent txupdate for deposits not marked processed');
                this.dispatcher?.poke();
              }
            },
            this.log,
          ),
        );
      }
    }
    if (this.options.manual) return;
    for (const task of this.tasks) task.start();
    this.dispatcher.start();
  }

  private async deactivate(): Promise<void> {
    const tasks = this.tasks.splice(0);
    await Promise.all(tasks.map((task) => task.stop()));
    await this.dispatcher?.stop();
    for (const coin of this.coins.values()) {
      coin.queue.clear(); // the next holder's first sync reads everything since the cursor
      coin.ledger = coin.unfenced;
    }
  }

  /**
   * One reading of everything that changed since the chain cursor, recorded (the whole history
   * at the very first start). The first successful run after taking the lease also reconciles
   * broadcasts a previous holder left open; broadcasting waits for it.
   */
  async syncOnce(code: string): Promise<void> {
    const coin = this.coins.get(code)!;
    if (!coin.startupRescanDone) await this.reconcile(code, coin);
    const end = this.metrics.pollSeconds.startTimer({ coin: code });
    const result = await coin.updates.run(() => this.nodeCall(coin, () => coin.ledger.syncWithChain()));
    end();
    for (const update of result.updates) this.applied(code, update);
    if (result.unknown.length > 0) {
      this.log.warn(
        { coin: code, txids: result.unknown.slice(0, 10), count: result.unknown.length },
        'tracked transactions unknown to the backend wallet',
      );
    }
    if (result.cursor) {
      if (coin.tip?.hash !== result.cursor.hash) coin.tip = { hash: result.cursor.hash, seenAt: Date.now() };
      coin.blockHeight = result.cursor.height;
      this.metrics.blockHeight.set({ coin: code }, result.cursor.height);
    }
    // A COUNT, not the rows: the sync itself read them, before this round's changes.
    coin.trackedTransactions = await coin.unfenced.read((book) => book.trackedCount());
    this.metrics.tracked.set({ coin: code }, coin.trackedTransactions);
    if (!coin.startupRescanDone) {
      coin.startupRescanDone = true;
      this.log.info(
        { coin: code, transactions: result.transactions, updates: result.updates.length, inParts: result.inParts },
        'first sync with the chain done',
      );
    }
  }

  /** Reconcile every wallet's open broadcasts, each once no send of it can still be on its way. */
  private async reconcile(code: string, coin: CoinRuntime): Promise<void> {
    const settled = broadcastSettledCheck(this.app.database, this.leaseTtlMs, coin.timeoutMs);
    const wallets = await coin.unfenced.read((book) => book.listWallets());
    for (const wallet of wallets) {
      // reconcileBroadcasts logs each broadcast it closes, keeps waiting or gives to a person.
      // With no open broadcast it asks the node nothing: that says nothing of the node either
      // (marking it reachable then made a down node flap between reachable and not).
      try {
        const reconciled = await reconcileBroadcasts(coin.ledger, wallet.name, this.log, settled);
        if (reconciled.closed.length + reconciled.vetting.length + reconciled.waiting.length > 0) this.markNode(coin, null);
      } catch (error) {
        this.markNode(coin, error);
        throw error;
      }
    }
  }

  /** One broadcaster round over every wallet of the coin. */
  async broadcastOnce(code: string): Promise<void> {
    const coin = this.coins.get(code)!;
    if (!coin.startupRescanDone) return; // reconcile interrupted broadcasts before sending new ones
    // A broadcast left open by a failed reconciliation (node down at the time) is settled
    // before anything new goes out; nothing of ours is in flight at the start of a round.
    await this.reconcile(code, coin);
    const wallets = await coin.unfenced.read((book) => book.listWallets());
    for (const wallet of wallets) {
      const backoff = coin.backoff.get(wallet.name);
      if (backoff && this.now() < backoff.until) continue;
      for (let batch = 0; batch < BATCHES_PER_RUN_MAX; batch++) {
        const outcome = await coin.ledger.broadcastPending(wallet.name);
        if (outcome.status === 'nothing_to_send') break; // the node was not asked: says nothing of it
        this.metrics.broadcasts.inc({ coin: code, outcome: outcome.status });
        const sent = outcome.status === 'sent' ? [outcome] : outcome.status === 'isolated' ? outcome.sent : [];
        for (const one of sent) this.metrics.withdrawalsBroadcast.inc({ coin: code }, one.withdrawals.length);
        if (sent.length > 0 || outcome.status === 'isolated') this.dispatcher?.poke();
        // The ledger logs each refused withdrawal once, with the node's reason.
        if (outcome.status === 'isolated' && outcome.refused.length > 0)
          this.metrics.withdrawalsRefused.inc({ coin: code }, outcome.refused.length);
        const stopped = outcome.status === 'isolated' ? outcome.stopped : outcome.status === 'sent' ? undefined : outcome;
        if (stopped?.status === 'returned' && stopped.error.code === DEADLINE_PASSED) {
          // Our lease is too old to start a send: not the node's fault; the next renewal fixes it.
          this.log.warn({ coin: code, wallet: wallet.name }, 'the service lease is too old to start a send; waiting for its renewal');
          break;
        }
        if (stopped?.status === 'returned') {
          this.markNode(coin, stopped.error);
          this.backOff(code, coin, wallet.name, stopped.error);
          break;
        }
        if (stopped?.status === 'interrupted') break; // reconciled at the start of the next round
        this.markNode(coin, null);
        coin.backoff.delete(wallet.name);
      }
    }
  }

  /**
   * The books against the node wallet (ledger/node-audit.ts): a shortfall — a withdrawal paid
   * twice, a send outside the ledger — is logged as an error, shown on the status page and in
   * `cryptoassets_balance_audit_ok`, and fails the task so that it counts as a failure.
   */
  async auditOnce(code: string): Promise<void> {
    const coin = this.coins.get(code)!;
    const audit = await auditCoin(coin.unfenced);
    const at = new Date().toISOString();
    const previous = coin.audit;
    if ((audit.status === 'unsettled' || audit.status === 'unreachable') && previous) {
      // Not taken: what the last audit found stands. A busy ledger (books changing while the
      // node is read) is normal; only a run of such misses says something (readinessReasons).
      const unsettledInRow = audit.status === 'unsettled' ? previous.unsettledInRow + 1 : previous.unsettledInRow;
      coin.audit = { ...previous, missedInRow: previous.missedInRow + 1, unsettledInRow, lastTriedAt: at };
      this.log.warn({ coin: code, status: audit.status, problems: audit.problems, unsettledInRow }, 'the balance audit could not be taken');
      return;
    }
    const checked = audit.status === 'checked' ? audit : undefined;
    coin.audit = {
      at,
      status: audit.status,
      ok: audit.ok,
      difference: checked ? checked.difference.toString() : null,
      shortfall: checked ? checked.shortfall.toString() : null,
      unaccounted: checked ? checked.unaccounted.toString() : null,
      problems: audit.problems,
      missedInRow: 0,
      unsettledInRow: audit.status === 'unsettled' ? 1 : 0,
      lastTriedAt: at,
    };
    if (audit.status === 'unsettled' || audit.status === 'unreachable') {
      // The first audit not taken: there is no result yet for the gauges or a failure to report.
      this.log.warn({ coin: code, status: audit.status, problems: audit.problems }, 'the balance audit could not be taken');
      return;
    }
    this.metrics.auditOk.set({ coin: code }, audit.ok ? 1 : 0);
    if (checked) {
      this.metrics.auditDifference.set({ coin: code }, Number(checked.difference));
      this.metrics.auditShortfall.set({ coin: code }, Number(checked.shortfall));
    }
    if (!audit.ok) {
      this.log.error({ coin: code, status: audit.status, problems: audit.problems }, 'the balance audit against the node failed');
      throw new Error(`balance audit failed: ${audit.problems.join('; ') || audit.status}`);
    }
  }

  /** The node could not take a wallet's broadcast: wait longer before each next try. */
  private backOff(code: string, coin: CoinRuntime, wallet: string, error: unknown): void {
    const previous = coin.backoff.get(wallet);
    const failures = (previous?.failures ?? 0) + 1;
    const pause = Math.min(BACKOFF_MAX_MS, this.config.service.broadcastPeriodMs * 2 ** (failures - 1));
    coin.backoff.set(wallet, { failures, until: this.now() + pause });
    this.log.error({ coin: code, wallet, failures, pauseMs: pause, err: errorText(error) }, 'broadcasts paused after a node error');
  }

  /** A wallet notification arrived: queue the txid (once) and make sure the queue drains. */
  private notified(code: string, txid: string): void {
    // Only the lease holder writes; the next holder's first sync reads what it ignored.
    if (this.state !== 'running') return;
    const coin = this.coins.get(code)!;
    coin.queue.add(txid);
    if (this.options.manual) return;
    coin.draining ??= this.drain(code, coin).finally(() => {
      coin.draining = null;
    });
  }

  /** Queue a wallet notification as a listener would (the simulator's entry point). */
  notify(code: string, txid: string): void {
    this.notified(code, txid);
  }

  /** Apply the queued notifications of a coin now (manual mode). */
  async drainNotifications(code: string): Promise<void> {
    await this.drain(code, this.coins.get(code)!);
  }

  /** One round of event sequencing and delivery now (manual mode). */
  async dispatchEvents(): Promise<void> {
    await this.dispatcher?.runOnce();
  }

  /** Apply queued notifications in batches (one backend request and one database transaction each). */
  private async drain(code: string, coin: CoinRuntime): Promise<void> {
    // Let notifications that arrive together form one batch.
    if (!this.options.manual) await new Promise((resolve) => setImmediate(resolve));
    while (coin.queue.size > 0 && this.state === 'running') {
      const batch = [...coin.queue].slice(0, NOTIFIED_BATCH_MAX);
      for (const txid of batch) coin.queue.delete(txid);
      try {
        const result = await coin.updates.run(() => this.nodeCall(coin, () => applyTransactions(coin.ledger, batch)));
        for (const update of result.updates) this.applied(code, update);
        this.metrics.notifications.inc({ coin: code, result: 'applied' }, batch.length - result.unknown.length);
        if (result.unknown.length > 0) {
          this.metrics.notifications.inc({ coin: code, result: 'unknown_txid' }, result.unknown.length);
          this.log.warn({ coin: code, txids: result.unknown }, 'notification for a transaction the wallet does not know; ignored');
        }
      } catch (error) {
        // The next sync reads every change since the cursor: nothing notified is lost.
        this.metrics.notifications.inc({ coin: code, result: 'failed' }, batch.length);
        this.log.error(
          { coin: code, txids: batch.slice(0, 10), err: errorText(error) },
          'could not apply notified transactions; the next sync picks them up',
        );
      }
    }
    if (coin.queue.size > 0) {
      this.log.info({ coin: code, left: coin.queue.size }, 'not running: left notifications to the next sync');
      coin.queue.clear();
    }
  }

  private applied(code: string, update: NetworkUpdate): void {
    if (update.deposits.length > 0 || update.broadcasts.length > 0) this.dispatcher?.poke();
    for (const deposit of update.deposits) {
      this.countDeposit(code, deposit.change);
      if (deposit.change === 'credited' || deposit.change === 'reversed') {
        const fields = {
          coin: code,
          txid: update.txid,
          transaction: deposit.transaction.id,
          account: deposit.transaction.receivingAccountId,
          amount: deposit.transaction.amount.toString(),
          confirmations: deposit.confirmations,
        };
        if (deposit.change === 'credited') this.log.info(fields, 'deposit credited');
        else this.log.warn(fields, 'deposit credit reversed');
      }
    }
    for (const id of update.conflictedBroadcasts) {
      this.log.error(
        { coin: code, broadcast: id, txid: update.txid },
        'our broadcast is conflicted on the network; its withdrawals may be unpaid',
      );
    }
  }

  private countDeposit(code: string, change: string): void {
    if (change === 'credited') this.metrics.depositsCredited.inc({ coin: code });
    if (change === 'reversed') this.metrics.depositsReversed.inc({ coin: code });
  }

  /** Run a call that reaches the node, recording whether the node answered. */
  private async nodeCall<T>(coin: CoinRuntime, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.markNode(coin, null);
      return result;
    } catch (error) {
      this.markNode(coin, error);
      throw error;
    }
  }

  /**
   * Record the node's answer: null when it answered, else the error. Only backend errors that say
   * the node could not be reached or would not serve count; an answer too large, a reading
   * refused for a moving tip, our own send deadline or the node's refusal of a request are
   * answers of a working node.
   */
  private markNode(coin: CoinRuntime, error: unknown): void {
    // bitcoind's RpcError carries the node's own error number: the node answered.
    const answered = typeof (error as { rpcCode?: unknown } | null)?.rpcCode === 'number';
    const code = (error as { code?: unknown } | null)?.code;
    const notServing = typeof code === 'string' && NODE_NOT_SERVING_CODES.has(code);
    if (error !== null && !notServing && (answered || NODE_ANSWERED_CODES.has(typeof code === 'string' ? code : ''))) return;
    if (error === null) {
      if (coin.nodeReachable === false) this.log.info({ coin: coin.unfenced.code }, 'the node answers again');
      coin.nodeReachable = true;
      coin.lastNodeError = null;
      this.metrics.nodeUp.set({ coin: coin.unfenced.code }, 1);
    } else if (notServing || (error as { retryable?: boolean }).retryable !== undefined) {
      if (coin.nodeReachable !== false) {
        this.log.error(
          { coin: coin.unfenced.code, err: errorText(error) },
          notServing ? 'the node answers but cannot serve the service' : 'the node does not answer',
        );
      }
      coin.nodeReachable = false;
      coin.lastNodeError = notServing ? `it answers but cannot serve: ${errorText(error)}` : errorText(error);
      this.metrics.nodeUp.set({ coin: coin.unfenced.code }, 0);
    }
  }
}

/** The block.io API a backend offers for managing webhooks (`notificationApi()`), if any. */
function notificationApiOf(backend: object): BlockioNotificationApi | undefined {
  const offer = (backend as { notificationApi?: unknown }).notificationApi;
  return typeof offer === 'function' ? (offer as () => BlockioNotificationApi).call(backend) : undefined;
}

/**
 * Why the service is not ready, in words for a person (empty: ready). Not ready: not running (a
 * standby is not ready: it does no work), a node unreachable or not yet reached, the first sync
 * with the chain not done, a broadcast waiting for a person, a withdrawal refused or queued for
 * longer than `stuckAgeMs`, a conflicted broadcast, dead-lettered events, a failed balance audit,
 * a periodic task (sync, broadcast, audit, lease) that failed three rounds in a row.
 */
export function readinessReasons(
  state: ServiceState,
  lease: ServiceStatus['lease'],
  coins: readonly CoinStatus[],
  handlers: readonly HandlerStatus[],
  stuckAgeMs: number,
  tasks: readonly TaskStatus[] = [],
): string[] {
  const reasons: string[] = [];
  if (state === 'standby') reasons.push(`standing by: the lease is held by ${lease.holder ?? 'nobody yet'}`);
  else if (state !== 'running') reasons.push(`the service is ${state}`);
  if (state !== 'running') return reasons; // the rest is the holder's to say
  for (const coin of coins) {
    if (coin.nodeReachable === false) reasons.push(`${coin.coin}: the node is unreachable: ${coin.lastNodeError ?? 'no answer'}`);
    else if (coin.nodeReachable === null) reasons.push(`${coin.coin}: the node has not answered yet`);
    if (!coin.startupRescanDone) reasons.push(`${coin.coin}: the first sync with the chain is not finished`);
    if (coin.audit && coin.audit.status === 'checked' && !coin.audit.ok) {
      const problems = coin.audit.problems.map((problem) => problem.replace(`${coin.coin}: `, ''));
      reasons.push(`${coin.coin}: the balance audit failed (${problems.join('; ') || coin.audit.status})`);
    } else if (coin.audit && coin.audit.unsettledInRow >= UNSETTLED_AUDITS_NOT_READY) {
      reasons.push(
        `${coin.coin}: the balance audit could not be taken ${coin.audit.unsettledInRow} times in a row: the books kept changing while the node was read`,
      );
    }
    for (const wallet of coin.wallets) {
      const where = `${coin.coin}/${wallet.wallet}`;
      if (wallet.broadcastsToVet.length > 0)
        reasons.push(`${where}: broadcast ${wallet.broadcastsToVet.join(', ')} waits for a person (vetting)`);
      if (wallet.refusedWithdrawals.length > 0) {
        reasons.push(`${where}: withdrawal ${wallet.refusedWithdrawals.join(', ')} refused by the node, waits for a person`);
      }
      if (wallet.conflictedBroadcasts.length > 0)
        reasons.push(`${where}: broadcast ${wallet.conflictedBroadcasts.join(', ')} conflicted on the network`);
      const oldest = wallet.oldestQueuedAgeSeconds;
      if (oldest !== null && oldest * 1000 > stuckAgeMs) {
        // Counted over the whole queue in status(), not from the page's oldest rows (held ones among them).
        const stuck = Math.max(1, wallet.stuckWithdrawals);
        reasons.push(
          `${where}: ${stuck === 1 ? '1 withdrawal' : `${stuck} withdrawals`} queued for over ${durationText(stuckAgeMs / 1000)} (oldest ${durationText(oldest)})`,
        );
      }
    }
  }
  for (const task of tasks) {
    // A coin that already has a reason (its node out, its audit failed…) says why its tasks fail;
    // any other cause of a failing loop shows here.
    const coin = coins.find((c) => task.name.startsWith(`${c.coin}:`))?.coin;
    const explained = coin !== undefined && reasons.some((reason) => reason.startsWith(`${coin}:`) || reason.startsWith(`${coin}/`));
    if (task.consecutiveFailures >= TASK_FAILURES_NOT_READY && !explained) {
      reasons.push(`task ${task.name} failed ${task.consecutiveFailures} rounds in a row: ${task.lastError ?? 'unknown error'}`);
    }
  }
  for (const handler of handlers) {
    if (handler.deadLetters > 0)
      reasons.push(`events: handler ${handler.name} has ${handler.deadLetters} dead letter${handler.deadLetters === 1 ? '' : 's'}`);
  }
  return reasons;
}

/** A duration for people: 45 s, 12 min, 3 h 5 min, 2 d 4 h. */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86_400)} d${s % 86_400 >= 3600 ? ` ${Math.floor((s % 86_400) / 3600)} h` : ''}`;
}

/** The message of an error, for logs and the status page. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A promise-chain mutex: `run` calls execute one at a time, in call order. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
