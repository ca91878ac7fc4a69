/**
 * Delivers outbox events to every handler: after commit, per handler, in order of event id, at
 * least once. Each handler has its own stored cursor, so one slow or failing handler never holds
 * the others back, and a restart resumes where the last delivery was recorded. A failing event is
 * retried with exponential back-off; after the handler's maximum attempts it goes to the
 * dead-letter list (visible on the status page) and the handler moves on. Dead letters can be
 * redelivered on request.
 *
 * A crash between a successful delivery and the recording of it means that event is delivered
 * again, with the same id: receivers de-duplicate by id.
 */
import type { LedgerLog } from '../ledger/coin-ledger.js';
import type { Database } from '../store/database.js';
import * as store from './event-store.js';
import type { CryptoAssetsEvent, EventHandler } from './types.js';

export interface DispatcherOptions {
  /** How often to look for new events when not woken. Default 250 ms. */
  readonly pollMs?: number;
  /** First retry pause after a failed delivery. Default 1 s. */
  readonly retryBaseMs?: number;
  /** Longest retry pause. Default 10 min. */
  readonly retryMaxMs?: number;
  /** Events read per handler per round. Default 100. */
  readonly batch?: number;
}

/** A handler's delivery state, for the status page. */
export interface HandlerStatus {
  readonly name: string;
  readonly deliveredId: string;
  /** Events sequenced but not yet delivered to this handler. */
  readonly behind: string;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
  readonly deadLetters: number;
}

export class EventDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wanted = false;
  private stopped = true;
  private readonly pollMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly batch: number;

  constructor(
    private readonly database: Database,
    private readonly handlers: readonly EventHandler[],
    private readonly log: LedgerLog,
    options: DispatcherOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 250;
    this.retryBaseMs = options.retryBaseMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 600_000;
    this.batch = options.batch ?? 100;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Look for new events now (after a local commit) instead of at the next poll. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) this.wanted = true;
    else this.schedule(0);
  }

  /** Stop after the delivery in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One full round: sequence new events, then let every handler catch up as far as it can. */
  async runOnce(): Promise<void> {
    await store.sequenceEvents(this.database);
    // allSettled: a round ends only when every handler's loop has, so no loop outlives its round
    // (two loops of one handler would deliver out of order).
    const results = await Promise.allSettled(this.handlers.map((handler) => this.catchUp(handler)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async status(): Promise<HandlerStatus[]> {
    const latest = await store.latestEventId(this.database);
    const dead = await store.listDeadLetters(this.database);
    const result: HandlerStatus[] = [];
    for (const handler of this.handlers) {
      const progress = await store.handlerProgress(this.database, handler.name);
      result.push({
        name: handler.name,
        deliveredId: progress.deliveredSeq.toString(),
        behind: (latest > progress.deliveredSeq ? latest - progress.deliveredSeq : 0n).toString(),
        attempts: progress.attempts,
        nextAttemptAt: progress.nextAttemptAtMs > 0 ? new Date(progress.nextAttemptAtMs).toISOString() : null,
        lastError: progress.lastError,
        deadLetters: dead.filter((letter) => letter.handler === handler.name).length,
      });
    }
    return result;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wanted = false;
      this.running = this.runOnce()
        .catch((error: unknown) => this.log.error({ err: errorText(error) }, 'event delivery round failed; will retry'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.wanted ? 0 : this.pollMs);
        });
    }, delayMs);
  }

  private async catchUp(handler: EventHandler): Promise<void> {
    await this.redeliver(handler);
    for (;;) {
      if (this.stopped) return;
      const progress = await store.handlerProgress(this.database, handler.name);
      if (progress.nextAttemptAtMs > Date.now()) return;
      const events = await store.eventsAfter(this.database, progress.deliveredSeq, this.batch);
      if (events.length === 0) return;
      let attempts = progress.attempts;
      for (const event of events) {
        if (this.stopped) return;
        const error = await this.attempt(handler, event);
        if (error === null) {
          await store.recordDelivered(this.database, handler.name, BigInt(event.id));
          attempts = 0;
          continue;
        }
        attempts++;
        if (attempts >= handler.maxAttempts) {
          await store.deadLetter(this.database, handler.name, BigInt(event.id), attempts, error);
          this.log.error({ handler: handler.name, event: event.id, attempts, err: error }, 'event moved to dead-letter');
          attempts = 0;
          continue;
        }
        const pause = Math.ceil(this.backoffMs(attempts));
        await store.recordFailure(this.database, handler.name, attempts, Date.now() + pause, error);
        this.log.warn(
          { handler: handler.name, event: event.id, attempts, retryInMs: Math.round(pause), err: error },
          'event delivery failed; will retry',
        );
        return;
      }
    }
  }

  private async redeliver(handler: EventHandler): Promise<void> {
    for (const seq of await store.redeliveriesDue(this.database, handler.name)) {
      const event = await store.eventById(this.database, seq);
      if (!event) continue;
      const error = await this.attempt(handler, event);
      await store.settleRedelivery(this.database, handler.name, seq, error);
      if (error === null) this.log.info({ handler: handler.name, event: event.id }, 'dead letter redelivered');
      else this.log.error({ handler: handler.name, event: event.id, err: error }, 'dead letter failed again');
    }
  }

  /** Deliver once; null on success, the error text on failure. Handler errors never escape. */
  private async attempt(handler: EventHandler, event: CryptoAssetsEvent): Promise<string | null> {
    try {
      await handler.deliver(event);
      return null;
    } catch (error) {
      return errorText(error);
    }
  }

  /** Full-jitter exponential back-off in [base/2, base · 2^(n-1)], capped. */
  private backoffMs(attempts: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
