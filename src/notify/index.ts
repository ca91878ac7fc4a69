/**
 * Wallet notifications: how the node's `-walletnotify` hook, or block.io's webhooks and WebSocket,
 * tell the helper service that a transaction changed. See docs/notifications.md.
 */
import type { WalletNotifyConfig } from '../config/types.js';
import { BlockioWebhookListener, type BlockioWebhookOptions } from './blockio-webhook.js';
import { BlockioWebSocketListener, type BlockioWebSocketOptions } from './blockio-websocket.js';
import { HttpNotificationListener, type HttpListenerOptions } from './http-listener.js';
import { PipeNotificationListener, type PipeListenerOptions } from './pipe-listener.js';
import { RedisNotificationListener, type RedisListenerOptions } from './redis-listener.js';
import type { FatalHandler, ListenerLog, NotificationListener, TxidHandler } from './types.js';

export type {
  CommonListenerOptions,
  FatalHandler,
  ListenerKind,
  ListenerLog,
  ListenerState,
  ListenerStatus,
  NotificationListener,
  TxidHandler,
} from './types.js';
export { NotificationListenerError } from './errors.js';
export { parseTxid } from './txid.js';
export { HTTP_BODY_BYTES_MAX, HttpNotificationListener, type HttpListenerOptions } from './http-listener.js';
export { FIFO_MODE, NotAFifo } from './fifo.js';
export { PIPE_LINE_BYTES_MAX, PipeNotificationListener, type PipeListenerOptions } from './pipe-listener.js';
export type { BlockioNotificationApi } from './blockio-api.js';
export { parseBlockioMessage, type BlockioMessage } from './blockio-message.js';
export { BLOCKIO_WEBHOOK_PATH, BlockioWebhookListener, type BlockioWebhookOptions } from './blockio-webhook.js';
export { BlockioWebSocketListener, type BlockioWebSocketOptions } from './blockio-websocket.js';
export { REDIS_CLIENT_NAME, RedisNotificationListener, reconnectDelayMs, type RedisListenerOptions } from './redis-listener.js';

/** Options of {@link createListener}: a fatal-error callback, and tuning per style. */
export interface CreateListenerOptions {
  /** Called when a running listener can no longer work (start() failures reject instead). */
  onFatal?: FatalHandler;
  http?: Omit<HttpListenerOptions, 'onFatal'>;
  pipe?: Omit<PipeListenerOptions, 'onFatal'>;
  redis?: Omit<RedisListenerOptions, 'onFatal'>;
  /** For `blockio-webhook`; its `api` is what `manage: true` creates and deletes the notification with. */
  blockioWebhook?: Omit<BlockioWebhookOptions, 'onFatal'>;
  blockioWebSocket?: Omit<BlockioWebSocketOptions, 'onFatal'>;
}

/**
 * The listener for a coin's `walletnotify` configuration. It is not started: call `start()`.
 * `onTxid` receives only validated, lowercase txids; everything else is counted as rejected.
 */
export function createListener(
  config: WalletNotifyConfig,
  onTxid: TxidHandler,
  log: ListenerLog,
  options: CreateListenerOptions = {},
): NotificationListener {
  const { onFatal } = options;
  switch (config.type) {
    case 'http':
      return new HttpNotificationListener(config, onTxid, log, { ...options.http, onFatal });
    case 'pipe':
      return new PipeNotificationListener(config, onTxid, log, { ...options.pipe, onFatal });
    case 'redis':
      return new RedisNotificationListener(config, onTxid, log, { ...options.redis, onFatal });
    case 'blockio-webhook':
      return new BlockioWebhookListener(config, onTxid, log, { ...options.blockioWebhook, onFatal });
    case 'blockio-websocket':
      return new BlockioWebSocketListener(config, onTxid, log, { ...options.blockioWebSocket, onFatal });
  }
}
