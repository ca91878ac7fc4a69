/**
 * What the three listeners share: validating what arrived, handing txids to the handler without
 * letting it hurt the listener, and the counters behind `status()`.
 */
import { describeError } from './errors.js';
import { parseTxid, preview } from './txid.js';
import type { ListenerKind, ListenerLog, ListenerState, ListenerStatus, TxidHandler } from './types.js';

/** Rejections logged per window; beyond that they are only counted, so a flood cannot flood the log. */
const REJECTION_LOGS_PER_WINDOW_MAX = 20;
const REJECTION_LOG_WINDOW_MS = 60_000;

/** Counters and the handler call of one listener. */
export class Delivery {
  state: ListenerState = 'idle';
  reconnects = 0;
  private received = 0;
  private rejected = 0;
  private handlerErrors = 0;
  private lastNotificationAt: Date | null = null;
  private lastMessageAt: Date | null = null;
  private lastError: { message: string; at: Date } | null = null;
  private rejectionWindowStart = 0;
  private rejectionLogsInWindow = 0;

  constructor(
    private readonly kind: ListenerKind,
    private readonly endpoint: string,
    private readonly onTxid: TxidHandler,
    private readonly log: ListenerLog,
  ) {}

  /**
   * Validate `raw` and, if it is a txid, hand it to the handler. Returns whether it was accepted;
   * a refusal is counted and logged here, so callers only choose their reply.
   */
  offer(raw: string): boolean {
    const txid = parseTxid(raw);
    if (txid === null) {
      this.reject('not a transaction id', raw);
      return false;
    }
    this.received++;
    this.lastNotificationAt = new Date();
    this.lastMessageAt = this.lastNotificationAt;
    this.invoke(txid);
    return true;
  }

  /** Something arrived that is not a txid but proves the channel alive (a keep-alive ping, a subscription answer). */
  heard(): void {
    this.lastMessageAt = new Date();
  }

  /** Count and (rate-limited) log something that is not a notification. */
  reject(reason: string, raw?: string): void {
    this.rejected++;
    const now = Date.now();
    if (now - this.rejectionWindowStart >= REJECTION_LOG_WINDOW_MS) {
      const suppressed = Math.max(0, this.rejectionLogsInWindow - REJECTION_LOGS_PER_WINDOW_MAX);
      if (suppressed > 0) this.log.warn({ listener: this.kind, suppressed }, 'walletnotify: rejections not logged in the last window');
      this.rejectionWindowStart = now;
      this.rejectionLogsInWindow = 0;
    }
    this.rejectionLogsInWindow++;
    if (this.rejectionLogsInWindow <= REJECTION_LOGS_PER_WINDOW_MAX) {
      const fields = raw === undefined ? { listener: this.kind, reason } : { listener: this.kind, reason, value: preview(raw) };
      this.log.warn(fields, 'walletnotify: rejected a notification');
    }
  }

  /** Remember a listener failure for the status page (the caller logs it with its own context). */
  recordError(error: unknown): void {
    this.lastError = { message: describeError(error), at: new Date() };
  }

  status(): ListenerStatus {
    return {
      kind: this.kind,
      state: this.state,
      listening: this.state === 'listening',
      endpoint: this.endpoint,
      received: this.received,
      rejected: this.rejected,
      handlerErrors: this.handlerErrors,
      lastNotificationAt: this.lastNotificationAt?.toISOString() ?? null,
      lastMessageAt: this.lastMessageAt?.toISOString() ?? null,
      reconnects: this.reconnects,
      lastError: this.lastError && { message: this.lastError.message, at: this.lastError.at.toISOString() },
    };
  }

  /** Call the handler, catching synchronous throws and rejections alike. */
  private invoke(txid: string): void {
    let result: void | Promise<void>;
    try {
      result = this.onTxid(txid);
    } catch (error) {
      this.handlerFailed(txid, error);
      return;
    }
    if (result && typeof result.then === 'function') {
      result.then(undefined, (error: unknown) => this.handlerFailed(txid, error));
    }
  }

  private handlerFailed(txid: string, error: unknown): void {
    this.handlerErrors++;
    this.recordError(error);
    this.log.error({ listener: this.kind, txid, err: error }, 'walletnotify: the txid handler failed');
  }
}
