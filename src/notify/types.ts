/**
 * The contract every wallet-notification listener fulfils. A listener turns whatever the node's
 * `-walletnotify` hook sends (an HTTP POST, a line in a named pipe, a Redis message) into calls of
 * a {@link TxidHandler} with validated transaction ids, and reports its health for the status page.
 */

/** The delivery styles, one per `walletnotify.type`. */
export type ListenerKind = 'http' | 'pipe' | 'redis' | 'blockio-webhook' | 'blockio-websocket';

/**
 * Called once per accepted notification with 64 lowercase hex characters. The listener does not
 * wait for it: a slow handler never delays the node's hook, and a throwing or rejecting handler is
 * logged and counted, never fatal to the listener.
 */
export type TxidHandler = (txid: string) => void | Promise<void>;

/** The subset of a pino logger the listeners use; a pino `Logger` fits as it is. */
export interface ListenerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Lifecycle of a listener:
 * `idle` → `starting` → `listening` ⇄ `reconnecting` → `stopped`, or `failed` when it cannot work
 * any more (start() rejected, or a fatal error while running).
 */
export type ListenerState = 'idle' | 'starting' | 'listening' | 'reconnecting' | 'stopped' | 'failed';

/** A snapshot of a listener's health, safe to serialise as JSON on the status page. */
export interface ListenerStatus {
  readonly kind: ListenerKind;
  readonly state: ListenerState;
  /** True only in state `listening`: a notification sent now would be received. */
  readonly listening: boolean;
  /** Where notifications are received (URL, pipe path, Redis server and channel); never holds a password. */
  readonly endpoint: string;
  /** Valid txids handed to the handler. */
  readonly received: number;
  /** Notifications refused: malformed txids, wrong method or path, oversized bodies, overlong lines. */
  readonly rejected: number;
  /** Handler calls that threw or rejected. */
  readonly handlerErrors: number;
  /** When the last valid txid arrived (ISO 8601), or null. */
  readonly lastNotificationAt: string | null;
  /**
   * When anything last arrived from the other side, keep-alive pings included (ISO 8601), or null.
   * For a connection that should hear pings (block.io's WebSocket) a growing age means a dead link.
   */
  readonly lastMessageAt: string | null;
  /** How often the listener got its channel back after losing it (Redis reconnect, pipe reopened). */
  readonly reconnects: number;
  /** The last thing that went wrong (listener or handler), or null. */
  readonly lastError: { readonly message: string; readonly at: string } | null;
}

/** A source of wallet notifications. */
export interface NotificationListener {
  readonly kind: ListenerKind;
  /**
   * Begin listening; resolves when ready to receive (server bound, FIFO open, subscribed).
   * Rejects with a {@link NotificationListenerError} when the listener cannot work at all.
   * A listener is started once.
   */
  start(): Promise<void>;
  /** Stop and release everything (server closed, FIFO removed if we created it, connections quit). Idempotent. */
  stop(): Promise<void>;
  /** Health for the status page. */
  status(): ListenerStatus;
}

/**
 * Called when a listener that was running can no longer receive notifications and will not
 * recover by itself (e.g. its pipe path was replaced by a regular file). The service should
 * report it and, typically, restart or exit; polling still finds transactions meanwhile.
 */
export type FatalHandler = (error: Error, listener: NotificationListener) => void;

/** Options every listener takes. */
export interface CommonListenerOptions {
  onFatal?: FatalHandler;
}
