/**
 * Prometheus metrics of the helper service, in a registry of its own (never the global one, so an
 * application embedding the service keeps its own metrics apart).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
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

  constructor(stats: TransactionStats) {
    const registers = [this.registry];
    this.notifications = new Counter({
      name: 'cryptoassets_notifications_total',
      help: 'Notified txids by outcome (applied, unknown_txid, failed); malformed ones are refused by the listener.',
      labelNames: ['coin', 'result'],
      registers,
    });
    this.depositsCredited = new Counter({ name: 'cryptoassets_deposits_credited_total', help: 'Deposits credited.', labelNames: ['coin'], registers });
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
    this.tracked = new Gauge({ name: 'cryptoassets_tracked_transactions', help: 'Network transactions below the tracking limit.', labelNames: ['coin'], registers });
    this.nodeUp = new Gauge({ name: 'cryptoassets_node_up', help: '1 when the last call to the backend succeeded.', labelNames: ['coin'], registers });
    this.blockHeight = new Gauge({ name: 'cryptoassets_block_height', help: 'Best block height reported by the backend.', labelNames: ['coin'], registers });
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
    new Gauge({
      name: 'cryptoassets_database_conflict_retries',
      help: 'Managed transactions re-run after a database conflict since start.',
      registers,
      collect() {
        this.set(stats.conflictRetries);
      },
    });
    new Gauge({
      name: 'cryptoassets_database_conflicts_given_up',
      help: 'Managed transactions that gave up after repeated conflicts since start.',
      registers,
      collect() {
        this.set(stats.gaveUp);
      },
    });
  }
}
