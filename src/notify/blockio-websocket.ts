/**
 * Subscribes to block.io's notification server over a WebSocket (`wss://n.block.io/`): sends
 * `{"network", "type": "account", "api_key"}` once connected, expects `{"status": "success"}`, and
 * hands the txid of every transaction message to the service.
 *
 * A subscription can die silently (a NAT drops the idle connection, the server forgets us), so
 * block.io's keep-alive pings are tracked: no message at all for `missed_keepalives` keep-alive
 * periods replaces the connection. Every lost connection is reconnected with capped, jittered
 * back-off, and subscribed again. Whatever arrives while disconnected is found by the next poll.
 *
 * The API key is sent in the subscription message only: never logged, never in the status.
 */
import type WebSocket from 'ws';
import type { BlockioWebSocketConfig } from '../config/types.js';
import { redactUrlPassword } from '../domain/urls.js';
import { parseBlockioMessage } from './blockio-message.js';
import { Delivery } from './delivery.js';
import { describeError, NotificationListenerError } from './errors.js';
import { reconnectDelayMs } from './redis-listener.js';
import { ListenerBase } from './listener-base.js';
import type { CommonListenerOptions, ListenerLog, TxidHandler } from './types.js';

const START_TIMEOUT_MS = 10_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Longest wait between reconnection attempts, before jitter: block.io is a remote service. */
const RECONNECT_DELAY_MS_MAX = 30_000;
/** Largest message accepted; a transaction message lists inputs and outputs, a few KiB. */
const MESSAGE_BYTES_MAX = 1024 * 1024;

/** The `ws` client class, imported when the first block.io WebSocket listener starts. */
let socketClass: typeof WebSocket | undefined;

/** Tuning of the WebSocket client; the defaults suit production. */
export interface BlockioWebSocketOptions extends CommonListenerOptions {
  /** start() rejects when the first subscription is not confirmed within this time. Default 10000. */
  startTimeoutMs?: number;
  /** Longest wait between reconnection attempts, before jitter. Default 30000. */
  reconnectDelayMsMax?: number;
}

/** The block.io WebSocket style of walletnotify. */
export class BlockioWebSocketListener extends ListenerBase {
  readonly kind = 'blockio-websocket' as const;
  protected readonly delivery: Delivery;
  private socket: WebSocket | undefined;
  private subscribed = false;
  /** Set once the first subscription was confirmed; later ones are re-subscriptions. */
  private everSubscribed = false;
  /** Failed connection attempts since the last confirmed subscription (the back-off exponent). */
  private failures = 0;
  private subscriptionCount = 0;
  private lastHeardMs = 0;
  /** When the current connection opened (performance.now()). */
  private openedMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private closing = false;
  private firstSubscription: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(
    private readonly config: BlockioWebSocketConfig,
    onTxid: TxidHandler,
    private readonly log: ListenerLog,
    private readonly options: BlockioWebSocketOptions = {},
  ) {
    super();
    this.delivery = new Delivery('blockio-websocket', `${redactUrlPassword(config.url)} network ${config.network}`, onTxid, log);
  }

  /** Subscriptions confirmed by the server, the first one included. */
  get subscriptions(): number {
    return this.subscriptionCount;
  }

  protected async begin(): Promise<void> {
    // Loaded on first use: `ws` costs memory to every service that never talks to block.io.
    socketClass ??= (await import('ws')).default;
    this.delivery.state = 'starting';
    const timeoutMs = this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.startFailed(new Error(`not subscribed within ${timeoutMs} ms`)), timeoutMs);
      this.firstSubscription = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.connect();
    });
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.closing) return;
    const socket = new socketClass!(this.config.url, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS, maxPayload: MESSAGE_BYTES_MAX });
    this.socket = socket;
    this.subscribed = false;
    socket.on('open', () => {
      this.heard();
      this.openedMs = this.lastHeardMs;
      this.startWatchdog();
      socket.send(JSON.stringify({ network: this.config.network, type: 'account', api_key: this.config.apiKey }));
    });
    socket.on('message', (data, isBinary) => {
      if (socket === this.socket) this.received(socket, isBinary ? '' : rawText(data));
    });
    // Protocol-level pings are answered by ws itself; they prove the link alive as well.
    socket.on('ping', () => this.heard());
    socket.on('error', (error) => {
      this.delivery.recordError(error);
      if (!this.closing) this.log.warn({ listener: this.kind, err: describeError(error) }, 'walletnotify: block.io WebSocket error');
    });
    socket.on('close', () => {
      if (socket === this.socket) this.lost();
    });
  }

  private received(socket: WebSocket, text: string): void {
    this.heard();
    const message = parseBlockioMessage(text);
    switch (message.kind) {
      case 'subscribed':
        if (!this.subscribed) this.confirmed();
        return;
      case 'transaction':
        this.delivery.offer(message.txid);
        return;
      case 'refused': {
        // A wrong or revoked key: retrying soon will not help, so the next attempt waits the longest.
        const error = new NotificationListenerError(`walletnotify: block.io refused the WebSocket subscription: ${message.reason}`);
        this.delivery.recordError(error);
        this.log.error({ listener: this.kind, network: this.config.network, reason: message.reason }, error.message);
        this.failures = Math.max(this.failures, 16);
        if (!this.everSubscribed) this.startFailed(error);
        socket.terminate();
        return;
      }
      case 'invalid':
        this.delivery.reject(message.reason, text);
        return;
      case 'ping':
      case 'ignored':
        return;
    }
  }

  private confirmed(): void {
    this.subscribed = true;
    this.subscriptionCount++;
    this.failures = 0;
    this.delivery.state = 'listening';
    if (this.everSubscribed) {
      this.delivery.reconnects++;
      this.log.info({ listener: this.kind, network: this.config.network }, 'walletnotify: reconnected to block.io and subscribed again');
      return;
    }
    this.everSubscribed = true;
    this.log.info(
      { listener: this.kind, url: redactUrlPassword(this.config.url), network: this.config.network },
      'walletnotify: subscribed to block.io notifications',
    );
    this.firstSubscription?.resolve();
    this.firstSubscription = undefined;
  }

  /** The connection is gone (closed by either side, or never opened): try again after a pause. */
  private lost(): void {
    this.socket = undefined;
    this.stopWatchdog();
    if (this.closing) return;
    if (this.subscribed) this.log.warn({ listener: this.kind }, 'walletnotify: lost the block.io WebSocket; reconnecting');
    this.subscribed = false;
    if (this.everSubscribed) this.delivery.state = 'reconnecting';
    const delay = reconnectDelayMs(this.failures++, this.options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private heard(): void {
    this.lastHeardMs = performance.now();
    this.delivery.heard();
  }

  /**
   * Replace a connection that has been silent for `missedKeepalives` keep-alive periods, or that
   * has not had its subscription confirmed in as long (pings alone do not make it useful).
   */
  private startWatchdog(): void {
    this.stopWatchdog();
    const period = this.config.keepalivePeriodMs;
    const limitMs = period * this.config.missedKeepalives;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      const silentMs = now - this.lastHeardMs;
      const unconfirmed = !this.subscribed && now - this.openedMs > limitMs;
      if ((silentMs <= limitMs && !unconfirmed) || !this.socket) return;
      const reason = unconfirmed
        ? `block.io did not confirm the subscription within ${this.config.missedKeepalives} keep-alive periods`
        : `no message from block.io for ${this.config.missedKeepalives} keep-alive periods`;
      this.log.warn(
        { listener: this.kind, silentSeconds: Math.round(silentMs / 1000) },
        `walletnotify: ${reason}; replacing the connection`,
      );
      this.delivery.recordError(new Error(reason));
      this.socket.terminate();
    }, period);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** The first subscription will not come: reject start() (once) and stop trying. */
  private startFailed(error: Error, state: 'failed' | 'stopped' = 'failed'): void {
    const pending = this.firstSubscription;
    if (!pending) return;
    this.firstSubscription = undefined;
    const last = this.delivery.status().lastError?.message;
    this.delivery.state = state;
    this.delivery.recordError(error);
    this.shutDown();
    if (error instanceof NotificationListenerError) return pending.reject(error);
    const where = redactUrlPassword(this.config.url);
    const suffix = last && last !== error.message ? ` (last error: ${last})` : '';
    pending.reject(
      new NotificationListenerError(`walletnotify: cannot subscribe to block.io notifications at ${where}: ${error.message}${suffix}`, {
        cause: error,
      }),
    );
  }

  private shutDown(): void {
    this.closing = true;
    clearTimeout(this.retryTimer);
    this.stopWatchdog();
    const socket = this.socket;
    this.socket = undefined;
    socket?.terminate();
  }

  protected async close(): Promise<void> {
    this.startFailed(new Error('stopped before the subscription was confirmed'), 'stopped');
    const socket = this.socket;
    this.shutDown();
    if (socket && socket.readyState !== socket.CLOSED) await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (this.delivery.state !== 'failed') this.delivery.state = 'stopped';
    this.log.info({ listener: this.kind }, 'walletnotify: block.io WebSocket closed');
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}
