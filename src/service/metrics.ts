/**
 * Prometheus metrics of the helper service, in a registry of its own (never the global one, so an
 * application embedding the service keeps its own metrics apart).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HandlerStatus } from '../events/dispatcher.js';
import type { CoinStatus } from './helper-service.js';
import type { ListenerStatus } from '../notify/types.js';
import type { TransactionStats } from '../store/managed-transaction.js';

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly notifications: Counter<'coin' | 'result'>;
  readonly depositsCredited: Counter<'coin'>;
  readonly depositsReversed: Counter<'coin'>;
  readonly broadcasts: Counter<'coin' | 'outcome'>;
  readonly withdrawalsBroadcast: Counter<'coin'>;
  readonly withdrawalsRefused: Counter<'coin'>;
  readonly pollSeconds: Histogram<'coin'>;
  readonly tracked: Gauge<'coin'>;
  readonly nodeUp: Gauge<'coin'>;
  readonly blockHeight: Gauge<'coin'>;
  readonly auditOk: Gauge<'coin'>;
  readonly leaseHeld: Gauge;
  readonly auditDifference: Gauge<'coin'>;
  readonly auditShortfall: Gauge<'coin'>;
  readonly tipAge: Gauge<'coin'>;
  readonly ready: Gauge;
  private readonly listenerUp: Gauge<'coin' | 'kind'>;
  private readonly listenerSilence: Gauge<'coin' | 'kind'>;
  private readonly listenerReconnects: Gauge<'coin' | 'kind'>;
  private readonly walletGauges: Record<
    'pending' | 'pendingBaseUnits' | 'pendingOldest' | 'held' | 'open' | 'vetting' | 'refused' | 'conflicted',
    Gauge<'coin' | 'wallet'>
  >;
  private readonly handlerBehind: Gauge<'handler'>;
  private readonly handlerDeadLetters: Gauge<'handler'>;

  constructor(stats: TransactionStats) {
    const registers = [this.registry];
    // Process metrics (CPU, memory, event loop lag, open file descriptors), in our registry.
    collectDefaultMetrics({ register: this.registry });
    this.notifications = new Counter({
      name: 'cryptoassets_notifications_total',
      help: 'Notified txids by outcome (applied, unknown_txid, failed); malformed ones are refused by the listener.',
      labelNames: ['coin', 'result'],
      registers,
    });
    this.depositsCredited = new Counter({
      name: 'cryptoassets_deposits_credited_total',
      help: 'Deposits credited.',
      labelNames: ['coin'],
      registers,
    });
    this.depositsReversed = new Counter({
      name: 'cryptoassets_deposits_reversed_total',
      help: 'Credited deposits reversed (reorganisation or double spend).',
      labelNames: ['coin'],
      registers,
    });
    this.broadcasts = new Counter({
      name: 'cryptoassets_broadcasts_total',
      help: 'Broadcast rounds of a wallet by outcome (sent; isolated: a refused batch split; returned: node could not take it; interrupted: outcome unknown).',
      labelNames: ['coin', 'outcome'],
      registers,
    });
    this.withdrawalsBroadcast = new Counter({
      name: 'cryptoassets_withdrawals_broadcast_total',
      help: 'Withdrawals sent to the network.',
      labelNames: ['coin'],
      registers,
    });
    this.withdrawalsRefused = new Counter({
      name: 'cryptoassets_withdrawals_refused_total',
      help: 'Withdrawals the node refused alone (now in state refused, waiting for an operator).',
      labelNames: ['coin'],
      registers,
    });
    this.pollSeconds = new Histogram({
      name: 'cryptoassets_poll_duration_seconds',
      help: 'Duration of one sync with the chain (everything since the cursor, recorded).',
      labelNames: ['coin'],
      registers,
    });
    this.tracked = new Gauge({
      name: 'cryptoassets_tracked_transactions',
      help: 'Network transactions below the tracking limit.',
      labelNames: ['coin'],
      registers,
    });
    this.nodeUp = new Gauge({
      name: 'cryptoassets_node_up',
      help: '1 when the last call to the backend succeeded.',
      labelNames: ['coin'],
      registers,
    });
    this.blockHeight = new Gauge({
      name: 'cryptoassets_block_height',
      help: 'Best block height reported by the backend.',
      labelNames: ['coin'],
      registers,
    });
    this.leaseHeld = new Gauge({
      name: 'cryptoassets_lease_held',
      help: '1 while this service holds the lease and works; 0 on standby (its other gauges are then stale or reset).',
      registers,
    });
    this.auditOk = new Gauge({
      name: 'cryptoassets_balance_audit_ok',
      help: '1 when the last balance audit found the node wallet holding at least what the books say (0: shortfall, node unreachable or books moving).',
      labelNames: ['coin'],
      registers,
    });
    this.auditDifference = new Gauge({
      name: 'cryptoassets_balance_audit_difference_base_units',
      help: 'Node wallet balance minus what the books say it must hold, in base units, at the last audit.',
      labelNames: ['coin'],
      registers,
    });
    this.auditShortfall = new Gauge({
      name: 'cryptoassets_balance_audit_shortfall_base_units',
      help: 'How much less the node wallet holds than the books say, in base units (0 when none), at the last audit.',
      labelNames: ['coin'],
      registers,
    });
    // Counters read from the transaction statistics at each scrape (they only ever grow).
    const statCounter = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    statCounter(
      'cryptoassets_database_conflict_retries_total',
      'Managed transactions re-run after a database conflict.',
      () => stats.conflictRetries,
    );
    statCounter(
      'cryptoassets_database_conflicts_given_up_total',
      'Managed transactions that gave up after repeated conflicts.',
      () => stats.gaveUp,
    );

    this.tipAge = new Gauge({
      name: 'cryptoassets_block_tip_age_seconds',
      help: 'Seconds since this service first saw the current best block (grows while the chain or the node stalls).',
      labelNames: ['coin'],
      registers,
    });
    this.ready = new Gauge({
      name: 'cryptoassets_ready',
      help: '1 when /ready answers 200 (running, nothing waiting for a person).',
      registers,
    });
    const walletGauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['coin', 'wallet'], registers });
    this.walletGauges = {
      pending: walletGauge('cryptoassets_pending_withdrawals', 'Withdrawals queued for the next broadcast.'),
      pendingBaseUnits: walletGauge('cryptoassets_pending_withdrawals_base_units', 'Sum of the queued withdrawals, in base units.'),
      pendingOldest: walletGauge(
        'cryptoassets_pending_withdrawal_oldest_age_seconds',
        'Age of the oldest queued withdrawal a broadcast may take (0 when none waits; held ones left out).',
      ),
      held: walletGauge(
        'cryptoassets_withdrawals_held',
        'Queued withdrawals of frozen accounts: no broadcast takes them until the account is unfrozen.',
      ),
      open: walletGauge(
        'cryptoassets_broadcasts_open',
        'Broadcasts opened and not yet closed (being sent, or interrupted and waiting for reconciliation).',
      ),
      vetting: walletGauge('cryptoassets_broadcasts_vetting', 'Interrupted broadcasts waiting for a person (resolve-broadcast).'),
      refused: walletGauge(
        'cryptoassets_refused_withdrawals',
        'Withdrawals the node refused, waiting for an operator (retry-withdrawal or cancel-withdrawal).',
      ),
      conflicted: walletGauge(
        'cryptoassets_broadcasts_conflicted',
        'Sent broadcasts conflicting with the best chain: their withdrawals may be unpaid.',
      ),
    };
    const listenerGauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['coin', 'kind'], registers });
    this.listenerUp = listenerGauge(
      'cryptoassets_notification_listener_up',
      '1 while the wallet-notification channel can receive (listening; subscribed for block.io); polling covers the rest.',
    );
    this.listenerSilence = listenerGauge(
      'cryptoassets_notification_last_message_age_seconds',
      'Seconds since anything arrived on the notification channel, keep-alives included (absent before the first).',
    );
    this.listenerReconnects = listenerGauge(
      'cryptoassets_notification_listener_reconnects',
      'Times the notification channel got its connection back (Redis, block.io WebSocket) since the start.',
    );
    this.handlerBehind = new Gauge({
      name: 'cryptoassets_event_handler_lag_events',
      help: 'Events sequenced but not yet delivered to the handler.',
      labelNames: ['handler'],
      registers,
    });
    this.handlerDeadLetters = new Gauge({
      name: 'cryptoassets_event_dead_letters',
      help: 'Events the handler gave up on (redeliver them with cryptoassets redeliver).',
      labelNames: ['handler'],
      registers,
    });
  }
  private observeListener(coin: string, listener: ListenerStatus): void {
    const labels = { coin, kind: listener.kind };
    this.listenerUp.set(labels, listener.listening ? 1 : 0);
    this.listenerReconnects.set(labels, listener.reconnects);
    if (listener.lastMessageAt !== null)
      this.listenerSilence.set(labels, Math.max(0, (Date.now() - Date.parse(listener.lastMessageAt)) / 1000));
  }

  /** Set the gauges that describe the books and the handlers from a status snapshot. */
  observeStatus(coins: readonly CoinStatus[], handlers: readonly HandlerStatus[], ready: boolean): void {
    this.ready.set(ready ? 1 : 0);
    for (const coin of coins) {
      if (coin.tipAgeSeconds !== null) this.tipAge.set({ coin: coin.coin }, coin.tipAgeSeconds);
      if (coin.listener) this.observeListener(coin.coin, coin.listener);
      for (const wallet of coin.wallets) {
        const labels = { coin: coin.coin, wallet: wallet.wallet };
        const g = this.walletGauges;
        g.pending.set(labels, wallet.queuedWithdrawals);
        g.pendingBaseUnits.set(labels, Number(wallet.queuedBaseUnits));
        g.pendingOldest.set(labels, wallet.oldestQueuedAgeSeconds ?? 0);
        g.held.set(labels, wallet.heldWithdrawals);
        g.open.set(labels, wallet.openBroadcasts.length);
        g.vetting.set(labels, wallet.broadcastsToVet.length);
        g.refused.set(labels, wallet.refusedWithdrawals.length);
        g.conflicted.set(labels, wallet.conflictedBroadcasts.length);
      }
    }
    for (const handler of handlers) {
      this.handlerBehind.set({ handler: handler.name }, Number(handler.behind));
      this.handlerDeadLetters.set({ handler: handler.name }, handler.deadLetters);
    }
  }
}
