/**
 * The helper service: runs beside the node and the application, and is the only process that
 * talks to the network on the ledger's behalf.
 *
 * - holds a lease in the database, so a second service on the same database stands by;
 * - at start (and until it succeeds) rescans received transactions, so deposits notified while
 *   it was down are found, and reconciles broadcasts a crash left open;
 * - listens for wallet notifications and applies each notified transaction;
 * - broadcasts queued withdrawals every `broadcast_period`, one batch (one sendmany) per wallet;
 * - polls confirmations of tracked transactions every `poll_period`;
 * - reports all of it on the status server (JSON, HTML, Prometheus metrics).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CryptoAssets } from '../app.js';
import type { Config } from '../config/types.js';
import type { CoinLedger, LedgerLog } from '../ledger/coin-ledger.js';
import { createListener } from '../notify/index.js';
import type { ListenerStatus, NotificationListener } from '../notify/types.js';
import { reconcileBroadcasts } from './broadcast-reconciler.js';
import { errorText, pollConfirmations } from './confirmation-poller.js';
import { acquireLease, holderProcessIsGone, instanceId, releaseLease } from './lease.js';
import { ServiceMetrics } from './metrics.js';
import { PeriodicTask, type TaskStatus } from './periodic-task.js';
import { updateTransaction } from './transaction-updater.js';
import type { NetworkUpdate } from '../ledger/tracking.js';
import { EventDispatcher, type HandlerStatus } from '../events/dispatcher.js';
import { createHandler } from '../events/handlers/index.js';
import type { EventHandler } from '../events/types.js';

/** Name of the lease the broadcasting, polling service holds. */
export const SERVICE_LEASE = 'helper-service';
/** How long a lease lasts without renewal; renewed every third of it. */
export const LEASE_TTL_MS = 30_000;
/** Withdrawal batches one broadcaster run sends per wallet at most (500 withdrawals each). */
const BATCHES_PER_RUN_MAX = 20;

export type ServiceState = 'created' | 'starting' | 'standby' | 'running' | 'stopping' | 'stopped';

/** What the status page shows for one wallet. */
export interface WalletStatus {
  readonly wallet: string;
  readonly queuedWithdrawals: number;
  readonly openBroadcasts: readonly number[];
  readonly broadcastsToVet: readonly number[];
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
  readonly lastNodeError: string | null;
  readonly startupRescanDone: boolean;
  readonly trackedTransactions: number;
  readonly listener: ListenerStatus | null;
  readonly wallets: readonly WalletStatus[];
}

export interface ServiceStatus {
  readonly state: ServiceState;
  readonly instance: string;
  readonly startedAt: string | null;
  readonly lease: { readonly held: boolean; readonly holder: string | null; readonly expiresAt: string | null };
  readonly coins: readonly CoinStatus[];
  readonly events: { readonly latestId: string; readonly handlers: readonly HandlerStatus[] };
  readonly tasks: readonly TaskStatus[];
}

export interface HelperServiceOptions {
  /** Called when a part the service cannot work without has died; the CLI exits with code 2. */
  readonly onCritical?: (error: Error) => void;
  /** Lease length; tests shorten it. */
  readonly leaseTtlMs?: number;
  /** Event handlers given in code (in-process functions), in addition to the configured ones. */
  readonly handlers?: readonly EventHandler[];
  /** How often the dispatcher looks for new events; default 250 ms. */
  readonly eventPollMs?: number;
}

/** Per-coin runtime state. */
interface CoinRuntime {
  readonly ledger: CoinLedger;
  listener: NotificationListener | null;
  nodeReachable: boolean | null;
  blockHeight: number | null;
  lastNodeError: string | null;
  startupRescanDone: boolean;
  trackedTransactions: number;
  /** Notified txids waiting to be applied, in arrival order, each once. */
  readonly queue: Set<string>;
  /**
   * Serialises every path that reads the node and applies what it read (notifications, polling,
   * rescan): each reading is applied before the next is taken, so an older reading can never
   * overwrite a newer one (a deposit credited by a notification reversed by a poll's stale view).
   */
  readonly updates: Mutex;
  draining: Promise<void> | null;
}

export class HelperService {
  readonly metrics: ServiceMetrics;
  /** Identifies this process in the lease and logs. */
  readonly instance = instanceId(hostname(), randomBytes(3).toString('hex'));
  private state: ServiceState = 'created';
  private startedAt: Date | null = null;
  private leaseHeld = false;
  private leaseRenewedAt = 0;
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
    this.leaseTtlMs = options.leaseTtlMs ?? LEASE_TTL_MS;
    for (const code of app.coinCodes) {
      this.coins.set(code, {
        ledger: app.coin(code),
        listener: null,
        nodeReachable: null,
        blockHeight: null,
        lastNodeError: null,
        startupRescanDone: false,
        trackedTransactions: 0,
        queue: new Set(),
        updates: new Mutex(),
        draining: null,
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
    this.dispatcher = new EventDispatcher(this.app.database, this.handlers, this.log, {
      pollMs: this.options.eventPollMs,
      retryBaseMs: this.config.service.eventRetryBaseMs,
    });
    await this.startListeners();
    this.state = 'standby';
    this.leaseTask.start();
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

  /** A snapshot for the status server; reads the database, never the node. */
  async status(): Promise<ServiceStatus> {
    const coins: CoinStatus[] = [];
    for (const [code, coin] of this.coins) {
      const wallets = await coin.ledger.read(async (book) => {
        const result: WalletStatus[] = [];
        for (const wallet of await book.listWallets()) {
          const walletBook = await book.wallet(wallet.name);
          const broadcasts = await walletBook.listBroadcasts(['opened', 'vetting']);
          const conflicted = (await walletBook.listBroadcasts(['closed'])).filter((b) => b.conflicted);
          result.push({
            wallet: wallet.name,
            queuedWithdrawals: (await walletBook.pendingWithdrawals()).length,
            openBroadcasts: broadcasts.filter((b) => b.state === 'opened').map((b) => b.id),
            broadcastsToVet: broadcasts.filter((b) => b.state === 'vetting').map((b) => b.id),
            conflictedBroadcasts: conflicted.map((b) => b.id),
          });
        }
        return result;
      });
      coins.push({
        coin: code,
        network: coin.ledger.context.network.name,
        backend: coin.ledger.backend.kind,
        nodeReachable: coin.nodeReachable,
        blockHeight: coin.blockHeight,
        lastNodeError: coin.lastNodeError,
        startupRescanDone: coin.startupRescanDone,
        trackedTransactions: coin.trackedTransactions,
        listener: coin.listener?.status() ?? null,
        wallets,
      });
    }
    return {
      state: this.state,
      instance: this.instance,
      startedAt: this.startedAt?.toISOString() ?? null,
      lease: {
        held: this.leaseHeld,
        holder: this.leaseHeld ? this.instance : (this.leaseHolder?.holder ?? null),
        expiresAt: this.leaseHolder?.expiresAt.toISOString() ?? null,
      },
      coins,
      events: {
        latestId: (await this.app.events.latestId()).toString(),
        handlers: (await this.dispatcher?.status()) ?? [],
      },
      tasks: [this.leaseTask, ...this.tasks].map((task) => task.status()),
    };
  }

  /** Sequenced events after an id, for the status server's /events. */
  eventsAfter(after: bigint, limit: number) {
    return this.app.events.after(after, limit);
  }

  /** The service's state. */
  get currentState(): ServiceState {
    return this.state;
  }

  private async startListeners(): Promise<void> {
    for (const [code, coin] of this.coins) {
      const notify = this.config.coins[code]?.walletnotify;
      if (!notify) continue;
      const listener = createListener(notify, (txid) => this.notified(code, txid), this.log, {
        onFatal: (error) => {
          this.log.error({ coin: code, err: error.message }, 'wallet-notification listener died');
          this.options.onCritical?.(error);
        },
      });
      await listener.start();
      coin.listener = listener;
      this.log.info({ coin: code, listener: listener.status().endpoint }, 'listening for wallet notifications');
    }
  }

  /** Take or renew the lease; start working on taking it, stand by on losing it. */
  private async keepLease(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    let other;
    try {
      other = await acquireLease(this.app.database, SERVICE_LEASE, this.instance, this.leaseTtlMs, (holder) =>
        holderProcessIsGone(holder, hostname()),
      );
    } catch (error) {
      // Could not renew (database trouble). Stop working before the lease can have run out, so a
      // standby that takes it over never works beside us.
      if (this.leaseHeld && Date.now() - this.leaseRenewedAt > (this.leaseTtlMs * 2) / 3) {
        this.log.error({ err: errorText(error) }, 'could not renew the service lease in time; standing by');
        this.leaseHeld = false;
        this.state = 'standby';
        await this.deactivate();
      }
      throw error;
    }
    if (other) {
      if (this.leaseHeld) this.log.error({ holder: other.holder }, 'lost the service lease; standing by');
      else if (this.leaseHolder?.holder !== other.holder) {
        this.log.warn({ holder: other.holder, until: other.expiresAt.toISOString() }, 'another service holds the lease; standing by');
      }
      this.leaseHolder = other;
      if (this.leaseHeld) await this.deactivate();
      this.leaseHeld = false;
      this.state = 'standby';
      return;
    }
    this.leaseRenewedAt = Date.now();
    this.leaseHolder = { holder: this.instance, expiresAt: new Date(this.leaseRenewedAt + this.leaseTtlMs) };
    if (!this.leaseHeld) {
      this.leaseHeld = true;
      this.activate();
    }
  }

  private activate(): void {
    this.state = 'running';
    this.log.info({ instance: this.instance }, 'holding the service lease; running');
    const service = this.config.service;
    for (const [code, coin] of this.coins) {
      coin.startupRescanDone = false; // a takeover rescans: notifications were ignored in standby
      this.tasks.push(
        new PeriodicTask(`${code}:startup-rescan`, service.pollPeriodMs, () => this.startupRescan(code, coin), this.log),
        new PeriodicTask(`${code}:broadcast`, service.broadcastPeriodMs, () => this.broadcast(code, coin), this.log),
        new PeriodicTask(`${code}:poll`, service.pollPeriodMs, () => this.poll(code, coin), this.log),
      );
      const resendAfter = service.resendUnprocessedAfterMs;
      if (resendAfter !== null) {
        this.tasks.push(
          new PeriodicTask(`${code}:resend-unprocessed`, Math.min(resendAfter, 60_000), async () => {
            const resent = await coin.ledger.transaction((book) => book.resendUnprocessed(resendAfter));
            if (resent > 0) {
              this.log.info({ coin: code, resent }, 'resent txupdate for deposits not marked processed');
              this.dispatcher?.poke();
            }
          }, this.log),
        );
      }
    }
    for (const task of this.tasks) task.start();
    this.dispatcher?.start();
  }

  private async deactivate(): Promise<void> {
    const tasks = this.tasks.splice(0);
    await Promise.all(tasks.map((task) => task.stop()));
    await this.dispatcher?.stop();
  }

  /** Rescan once per start; retried every poll period until it succeeds (the node may be down). */
  private async startupRescan(code: string, coin: CoinRuntime): Promise<void> {
    if (coin.startupRescanDone) return;
    const wallets = await coin.ledger.read((book) => book.listWallets());
    for (const wallet of wallets) {
      const reconciled = await reconcileBroadcasts(coin.ledger, wallet.name, this.log);
      if (reconciled.closed.length + reconciled.vetting.length > 0) {
        this.log.warn({ coin: code, wallet: wallet.name, ...reconciled }, 'reconciled interrupted broadcasts');
      }
    }
    const result = await coin.updates.run(() => this.nodeCall(coin, () => coin.ledger.scanReceived()));
    for (const update of result.updates) this.countDeposit(code, update.change);
    coin.startupRescanDone = true;
    this.log.info({ coin: code, transactions: result.transactions, updates: result.updates.length }, 'start-up rescan done');
  }

  private async broadcast(code: string, coin: CoinRuntime): Promise<void> {
    if (!coin.startupRescanDone) return; // reconcile interrupted broadcasts before sending new ones
    const wallets = await coin.ledger.read((book) => book.listWallets());
    for (const wallet of wallets) {
      // A broadcast left open by a failed reconciliation (node down at the time) is settled
      // before anything new goes out; nothing of ours is in flight at the start of a round.
      await this.nodeCall(coin, () => reconcileBroadcasts(coin.ledger, wallet.name, this.log));
      for (let batch = 0; batch < BATCHES_PER_RUN_MAX; batch++) {
        const outcome = await coin.ledger.broadcastPending(wallet.name);
        if (outcome.status === 'nothing_to_send') break; // the node was not asked: says nothing of it
        if (outcome.status === 'sent') this.markNode(coin, null);
        else this.markNode(coin, outcome.error);
        this.metrics.broadcasts.inc({ coin: code, outcome: outcome.status });
        if (outcome.status !== 'sent') {
          break; // an interrupted broadcast is reconciled at the start of the next round
        }
        this.metrics.withdrawalsBroadcast.inc({ coin: code }, outcome.withdrawals.length);
        this.dispatcher?.poke();
      }
    }
  }

  private async poll(code: string, coin: CoinRuntime): Promise<void> {
    const backend = coin.ledger.backend;
    if (backend.blockHeight) {
      coin.blockHeight = await this.nodeCall(coin, () => backend.blockHeight!());
      this.metrics.blockHeight.set({ coin: code }, coin.blockHeight);
    }
    const end = this.metrics.pollSeconds.startTimer({ coin: code });
    const result = await coin.updates.run(() =>
      this.nodeCall(coin, () => pollConfirmations(coin.ledger, this.log, (update) => this.applied(code, update))),
    );
    end();
    coin.trackedTransactions = result.tracked;
    this.metrics.tracked.set({ coin: code }, result.tracked);
  }

  /** A wallet notification arrived: queue the txid (once) and make sure the queue drains. */
  private notified(code: string, txid: string): void {
    // Only the lease holder writes; a standby's rescan at takeover picks up what it ignored.
    if (this.state !== 'running') return;
    const coin = this.coins.get(code)!;
    coin.queue.add(txid);
    coin.draining ??= this.drain(code, coin).finally(() => {
      coin.draining = null;
    });
  }

  private async drain(code: string, coin: CoinRuntime): Promise<void> {
    for (const txid of coin.queue) {
      coin.queue.delete(txid);
      try {
        const result = await coin.updates.run(() => this.nodeCall(coin, () => updateTransaction(coin.ledger, txid)));
        this.metrics.notifications.inc({ coin: code, result: result.status });
        if (result.status === 'applied') this.applied(code, result.update);
        else this.log.warn({ coin: code, txid, status: result.status }, 'notification for a transaction the wallet does not know; ignored');
      } catch (error) {
        // Polling and the next rescan pick the transaction up; one failure never stops the queue.
        this.metrics.notifications.inc({ coin: code, result: 'failed' });
        this.log.error({ coin: code, txid, err: errorText(error) }, 'could not apply a notified transaction');
      }
      if (this.state === 'stopping' && coin.queue.size > 0) {
        this.log.info({ coin: code, left: coin.queue.size }, 'stopping: left notifications to the next start-up rescan');
        coin.queue.clear();
      }
    }
  }

  private applied(code: string, update: NetworkUpdate): void {
    if (update.deposits.length > 0 || update.broadcasts.length > 0) this.dispatcher?.poke();
    for (const deposit of update.deposits) this.countDeposit(code, deposit.change);
    for (const id of update.conflictedBroadcasts) {
      this.log.error({ coin: code, broadcast: id, txid: update.txid }, 'our broadcast is conflicted on the network; its withdrawals may be unpaid');
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

  /** Record the node's answer: null when it answered, else the error (only backend errors count). */
  private markNode(coin: CoinRuntime, error: unknown): void {
    if (error === null) {
      coin.nodeReachable = true;
      coin.lastNodeError = null;
      this.metrics.nodeUp.set({ coin: coin.ledger.code }, 1);
    } else if ((error as { retryable?: boolean }).retryable !== undefined) {
      coin.nodeReachable = false;
      coin.lastNodeError = errorText(error);
      this.metrics.nodeUp.set({ coin: coin.ledger.code }, 0);
    }
  }
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
