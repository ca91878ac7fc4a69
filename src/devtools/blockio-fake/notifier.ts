/**
 * The notification side of the fake block.io: after every change of its chain it compares what
 * each transaction of the account looks like now with what it last announced, and announces the
 * differences (a new transaction, confirmations rising, or falling in a reorganisation, a
 * transaction dropped) as block.io does: a delivery to every webhook notification, retried while
 * the answer is not 2xx, and a message to every WebSocket subscriber.
 *
 * Announcements stop once a transaction has `untilConfirmations` confirmations: block.io, too,
 * stops notifying a transaction after a while, and the service's polling covers what follows.
 *
 * Webhook deliveries go out one after another, in the order of the changes, unless a test asks
 * for duplicates or a reversed order.
 */
import type { FakeTransaction } from './notification-data.js';
import type { FakeWebhookPoster } from './webhook-poster.js';
import type { FakeBlockioSocketServer } from './websocket-server.js';

/** Default of `untilConfirmations`: past every confirmation threshold the coins use by default. */
export const NOTIFY_UNTIL_CONFIRMATIONS = 10;

/** Webhook faults a test arms; each is consumed by the deliveries it affects. */
export interface NotificationFaults {
  /** Post the next delivery twice (an at-least-once sender repeating itself). */
  duplicateNext(): void;
  /** Hold the next `count` deliveries and post them in reverse order. */
  reverseNext(count: number): void;
}

export class FakeNotifier implements NotificationFaults {
  /** Confirmations last announced per txid. */
  private readonly announced = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private duplicate = false;
  private reverseCount = 0;
  private held: FakeTransaction[] = [];
  /** Webhook deliveries started (each to every notification), and WebSocket messages sent. */
  deliveries = 0;
  messages = 0;

  constructor(
    private readonly poster: FakeWebhookPoster,
    private readonly sockets: FakeBlockioSocketServer,
    /** block.io's name of the network, e.g. LTCTEST. */
    private readonly network: string,
    private readonly untilConfirmations = NOTIFY_UNTIL_CONFIRMATIONS,
  ) {}

  /**
   * Announce what changed. `live` is every transaction of the account as it is now; a txid
   * announced before and missing from it was dropped, and is announced once more at 0
   * confirmations (the receiver reads the truth from the API either way).
   */
  observe(live: readonly FakeTransaction[]): void {
    const seen = new Set<string>();
    for (const tx of live) {
      seen.add(tx.txid);
      const confirmations = tx.confirmations ?? 0;
      const before = this.announced.get(tx.txid);
      if (before === confirmations || (before !== undefined && before >= this.untilConfirmations && confirmations >= before)) continue;
      this.announced.set(tx.txid, confirmations);
      this.announce(tx);
    }
    for (const [txid, before] of this.announced) {
      if (seen.has(txid)) continue;
      this.announced.delete(txid);
      if (before < this.untilConfirmations) this.announce({ txid, network: this.network, confirmations: 0 });
    }
  }

  duplicateNext(): void {
    this.duplicate = true;
  }

  reverseNext(count: number): void {
    this.reverseCount = count;
  }

  /** Resolves when every delivery started so far has been answered 2xx or given up. */
  settled(): Promise<void> {
    return this.queue;
  }

  private announce(tx: FakeTransaction): void {
    this.sockets.sendTransaction(tx);
    this.messages++;
    if (this.reverseCount > 0) {
      this.held.push(tx);
      if (this.held.length < this.reverseCount) return;
      this.reverseCount = 0;
      for (const held of this.held.splice(0).reverse()) this.post(held);
      return;
    }
    this.post(tx);
    if (this.duplicate) {
      this.duplicate = false;
      this.post(tx);
    }
  }

  private post(tx: FakeTransaction): void {
    this.deliveries++;
    // One after another; a failed POST is retried inside `deliver`, never thrown.
    this.queue = this.queue.then(async () => void (await this.poster.deliver(tx)));
  }
}
