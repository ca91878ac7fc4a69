/**
 * The application's view of the outbox: read events after an id (to catch up without webhooks,
 * or instead of them), and manage dead letters.
 */
import type { Database } from '../store/database.js';
import * as store from './event-store.js';
import type { CryptoAssetsEvent } from './types.js';

export class EventsApi {
  constructor(private readonly database: Database) {}

  /**
   * Events with an id greater than `afterId`, oldest first (at most `limit`, 1..1000). Only events
   * the service has sequenced appear; ids are increasing and gap-free in that order.
   */
  after(afterId: bigint | number | string = 0n, limit = 100): Promise<CryptoAssetsEvent[]> {
    return store.eventsAfter(this.database, toSeq(afterId), limit);
  }

  /** The newest event id (0n when none). */
  latestId(): Promise<bigint> {
    return store.latestEventId(this.database);
  }

  /** Events that a handler gave up on. */
  deadLetters(handler?: string): Promise<store.DeadLetter[]> {
    return store.listDeadLetters(this.database, handler);
  }

  /** Ask the service to deliver a handler's dead letters (or one of them) again; returns how many. */
  redeliver(handler: string, eventId?: bigint | number | string): Promise<number> {
    return store.requestRedelivery(this.database, handler, eventId === undefined ? undefined : toSeq(eventId));
  }
}

function toSeq(value: bigint | number | string): bigint {
  const text = String(value);
  if (!/^\d{1,19}$/.test(text)) throw new RangeError(`not an event id: ${JSON.stringify(text)}`);
  return BigInt(text);
}
