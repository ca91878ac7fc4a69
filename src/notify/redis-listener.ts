/**
 * Receives `redis-cli publish CHANNEL %s` from the node's walletnotify hook.
 *
 * The original listener stopped on its first error and never came back. Here the subscriber has
 * its own connection that retries for ever with capped, jittered back-off; node-redis replays the
 * SUBSCRIBE on every new connection, and an 'error' listener is always attached because an
 * EventEmitter without one turns a dropped connection into a crashed process.
 */
import type { createClient } from 'redis';
import type { RedisWalletNotifyConfig } from '../config/types.js';
import { Delivery } from './delivery.js';
import { describeError, NotificationListenerError } from './errors.js';
import { ListenerBase } from './listener-base.js';
import type { CommonListenerOptions, ListenerLog, TxidHandler } from './types.js';

const START_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const RECONNECT_DELAY_MS_MIN = 50;
const RECONNECT_DELAY_MS_MAX = 5_000;
/** Random extra delay, so many listeners do not reconnect in lock-step after a Redis restart. */
const RECONNECT_JITTER_MS_MAX = 250;
/** How long stop() lets a live connection close gracefully before it is cut. */
const CLOSE_WAIT_MS_MAX = 2_000;
/** Connection name shown by `CLIENT LIST`, so operators can tell our subscriber apart. */
export const REDIS_CLIENT_NAME = 'cryptoassets-walletnotify';

/** Tuning of the Redis listener; the defaults suit production. */
export interface RedisListenerOptions extends CommonListenerOptions {
  /** start() rejects when the first subscription is not in place within this time. Default 10000. */
  startTimeoutMs?: number;
  /** Name given to the connection (`CLIENT SETNAME`). Default `cryptoassets-walletnotify`. */
  clientName?: string;
  /** Longest wait between reconnection attempts, before jitter. Default 5000. */
  reconnectDelayMsMax?: number;
}

/**
 * `redis` is loaded when a Redis listener starts, not when the package is imported: most
 * configurations never use it.
 */
async function loadRedis(): Promise<typeof createClient> {
  return (await import('redis')).createClient;
}

/** A subscriber connection that retries for ever with capped back-off. */
function newClient(create: typeof createClient, url: string, name: string, reconnectCapMs: number) {
  return create({
    url,
    name,
    // Commands issued while disconnected would pile up; a subscriber has none to queue anyway.
    disableOfflineQueue: true,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (retries) => reconnectDelayMs(retries, reconnectCapMs) },
  });
}

type Client = ReturnType<typeof newClient>;

/** Delay before reconnection attempt `retries` (0-based): 50 ms doubling up to the cap, plus jitter. */
export function reconnectDelayMs(retries: number, capMs = RECONNECT_DELAY_MS_MAX): number {
  return Math.min(RECONNECT_DELAY_MS_MIN * 2 ** retries, capMs) + Math.floor(Math.random() * RECONNECT_JITTER_MS_MAX);
}

/** The Redis pub/sub style of walletnotify. */
export class RedisNotificationListener extends ListenerBase {
  readonly kind = 'redis' as const;
  protected readonly delivery: Delivery;
  private client: Client | undefined;
  /** Set once the first subscription is in place; later 'ready' events are reconnections. */
  private subscribed = false;
  /** Set as soon as stop() is called, so events of a client being torn down are not alarms. */
  private closing = false;

  constructor(
    private readonly config: RedisWalletNotifyConfig,
    onTxid: TxidHandler,
    private readonly log: ListenerLog,
    private readonly options: RedisListenerOptions = {},
  ) {
    super();
    this.delivery = new Delivery('redis', `${safeServer(config.url)} channel ${config.channel}`, onTxid, log);
  }

  protected async begin(): Promise<void> {
    this.delivery.state = 'starting';
    let create: typeof createClient;
    try {
      create = await loadRedis();
    } catch (error) {
      this.delivery.state = 'failed';
      this.delivery.recordError(error);
      throw new NotificationListenerError(`walletnotify: cannot load the redis package: ${describeError(error)}`, { cause: error });
    }
    const client = this.createClient(create);
    this.client = client;
    const timeoutMs = this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not subscribed within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      // stop() called while the package loaded found no client to cut: do not connect this one.
      if (this.closing) throw new Error('stopped before connecting');
      await Promise.race([this.subscribe(client), timeout]);
    } catch (error) {
      // What the connection last reported says more than "timed out": keep it for the message.
      const last = this.delivery.status().lastError?.message;
      this.delivery.state = this.closing ? 'stopped' : 'failed';
      this.delivery.recordError(error);
      this.client = undefined;
      destroyQuietly(client);
      throw new NotificationListenerError(
        `walletnotify: cannot subscribe to ${this.config.channel} on ${safeServer(this.config.url)}: ${describeError(error)}` +
          (last && last !== describeError(error) ? ` (last error: ${last})` : ''),
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
    this.subscribed = true;
    this.delivery.state = 'listening';
    this.log.info(
      { listener: 'redis', server: safeServer(this.config.url), channel: this.config.channel },
      'walletnotify: subscribed to the Redis channel',
    );
  }

  private async subscribe(client: Client): Promise<void> {
    await client.connect();
    await client.subscribe(this.config.channel, (message) => this.delivery.offer(message));
  }

  private createClient(create: typeof createClient): Client {
    const client = newClient(
      create,
      this.config.url,
      this.options.clientName ?? REDIS_CLIENT_NAME,
      this.options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX,
    );
    client.on('error', (error: unknown) => {
      this.delivery.recordError(error);
      if (this.closing) return;
      // node-redis reports the drop before it announces the reconnection; the status should not lag.
      if (this.subscribed && !client.isReady) this.delivery.state = 'reconnecting';
      this.log.warn({ listener: 'redis', err: error }, 'walletnotify: Redis connection error; retrying');
    });
    client.on('reconnecting', () => {
      if (this.closing) return;
      if (this.subscribed) this.delivery.state = 'reconnecting';
    });
    client.on('ready', () => {
      // The first 'ready' comes before we subscribe; begin() reports that one.
      if (!this.subscribed || this.closing) return;
      this.delivery.reconnects++;
      this.delivery.state = 'listening';
      this.log.info({ listener: 'redis', channel: this.config.channel }, 'walletnotify: reconnected to Redis and subscribed again');
    });
    client.on('terminated', (cause: unknown) => {
      // Our strategy never gives up, so this means node-redis closed the client for good.
      if (this.closing) return;
      const error = new NotificationListenerError(`walletnotify: the Redis client stopped reconnecting: ${describeError(cause)}`, {
        cause,
      });
      this.delivery.state = 'failed';
      this.delivery.recordError(error);
      this.log.error({ listener: 'redis', err: error }, 'walletnotify: the Redis listener cannot go on');
      this.options.onFatal?.(error, this);
    });
    return client;
  }

  protected async close(): Promise<void> {
    this.closing = true;
    // A start() still trying to reach Redis would otherwise hold stop() for its whole timeout.
    if (!this.subscribed && this.client) destroyQuietly(this.client);
    await this.starting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client) {
      if (client.isReady) {
        // A graceful close waits for pending replies; bounded, because the link may die meanwhile.
        let timer: NodeJS.Timeout | undefined;
        const graceful = Promise.race([client.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS_MAX)))]);
        await graceful.catch(() => undefined).finally(() => clearTimeout(timer));
      }
      // While reconnecting there is nothing to close gracefully: cut it, which also ends the retries.
      destroyQuietly(client);
    }
    if (this.delivery.state !== 'failed') this.delivery.state = 'stopped';
    this.log.info({ listener: 'redis', channel: this.config.channel }, 'walletnotify: Redis listener stopped');
  }
}

function destroyQuietly(client: Client): void {
  try {
    client.destroy();
  } catch {
    // Already closed.
  }
}

/** `redis://host:port` without user name or password, for logs and the status page. */
function safeServer(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return 'redis';
  }
}
