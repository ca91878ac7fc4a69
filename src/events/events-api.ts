/**
 * The application's view of the outbox: read events after an id (to catch up without webhooks,
 * or instead of them), and manage dead letters.
 */
import { INT64_MAX } from '../domain/coins.js';
import { InvalidArgument } from '../domain/errors.js';
import type { Database } from '../store/database.js';
import * as store from './event-store.js';
import type { CryptoAssetsEvent } from './types.js';

export class EventsApi {
  constructor(private readonly database: Database) {}

  /**
   * Events with an id greater than `afterId`, oldest first (at most `limit`, 1..1000).
   *
   * Events get their ids (`seq`) when they are committed and sequenced. This call sequences what
   * is committed first (a short write transaction, only when something waits), so it works without
   * a helper service; with one running, both sequence the same way (see `sequenceEvents`).
   * The guarantee: ids increase in the order events became visible, each event has exactly one
   * id forever, and an event committed later always gets a greater id than any already handed
   * out, so a reader that stores the last id it processed and asks for the events after it sees
   * every event once, in order. `{ sequence: false }` only reads what is already sequenced
   * (for a read-only database user).
   */
  async after(afterId: bigint | number | string = 0n, limit = 100, options: { sequence?: boolean } = {}): Promise<CryptoAssetsEvent[]> {
    const after = toSeq(afterId);
    if (options.sequence !== false) await store.sequenceCommitted(this.database);
    return store.eventsAfter(this.database, after, limit);
  }

  /** The newest event id (0n when none), after sequencing what is committed. */
  async latestId(options: { sequence?: boolean } = {}): Promise<bigint> {
    if (options.sequence !== false) await store.sequenceCommitted(this.database);
    return store.latestEventId(this.database);
  }

  /** Events that a handler gave up on. */
  deadLetters(handler?: string): Promise<store.DeadLetter[]> {
    return store.listDeadLetters(this.database, handler);
  }

  /** Ask the service to deliver a handler's dead letters (or one of them) again; returns how many. */
  async redeliver(handler: string, eventId?: bigint | number | string): Promise<number> {
    return store.requestRedelivery(this.database, handler, eventId === undefined ? undefined : toSeq(eventId));
  }
}

/** An event id: a whole number 0..INT64_MAX (the column is a signed 64-bit integer). @throws InvalidArgument */
export function toSeq(value: bigint | number | string): bigint {
  const text = String(value);
  if (!/^\d{1,19}$/.test(text) || BigInt(text) > INT64_MAX)
    throw new InvalidArgument(`not an event id: ${JSON.stringify(text.slice(0, 64))}`);
  return BigInt(text);
}
