/**
 * Receives block.io's webhook notifications: JSON POSTs to `/blockio/<secret>` on a listener of
 * our own, bound to 127.0.0.1 by default, behind the operator's HTTPS reverse proxy (block.io
 * needs a public URL; the secret path is what keeps others from posting to it).
 *
 * block.io retries a delivery until it is answered with 2xx (for about a day), so deliveries come
 * again, late and out of order. Each (txid, confirmations) pair is handed on once; a repeated one
 * is answered 200 and only counted. A new confirmation count is handed on, because it is what lets
 * the service credit a deposit before its next poll. Order does not matter: the service reads the
 * transaction from the backend, and an older reading never undoes a newer one.
 *
 * With `manage`, the receiver creates its notification at start (`create_notification`; block.io
 * pings the URL first, which is why the server is listening before) and deletes it at stop.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BlockioWebhookConfig } from '../config/types.js';
import type { BlockioNotificationApi } from './blockio-api.js';
import { parseBlockioMessage } from './blockio-message.js';
import { Delivery } from './delivery.js';
import { describeError, NotificationListenerError } from './errors.js';
import { bindListener, closeServer, createLimitedServer, hostForUrl, readBody, reply } from './http-server.js';
import { RecentSet } from './recent-set.js';
import { ListenerBase } from './listener-base.js';
import type { CommonListenerOptions, ListenerLog, ListenerStatus, TxidHandler } from './types.js';

/** The path prefix; the secret is the segment after it. */
export const BLOCKIO_WEBHOOK_PATH = '/blockio/';
/** Deliveries remembered to recognise repeated ones; block.io retries for about a day. */
const RECENT_DELIVERIES_MAX = 100_000;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** Tuning and plug-ins of the webhook receiver. */
export interface BlockioWebhookOptions extends CommonListenerOptions {
  /** block.io's API for `manage: true`; without it such a receiver refuses to start. */
  api?: BlockioNotificationApi;
}

/** The block.io webhook style of walletnotify. */
export class BlockioWebhookListener extends ListenerBase {
  readonly kind = 'blockio-webhook' as const;
  protected readonly delivery: Delivery;
  private readonly secretDigest: Buffer;
  private readonly seen = new RecentSet(RECENT_DELIVERIES_MAX);
  private duplicateCount = 0;
  private server: Server | undefined;
  private bound: AddressInfo | undefined;
  private notificationId: string | null = null;

  constructor(
    private readonly config: BlockioWebhookConfig,
    onTxid: TxidHandler,
    private readonly log: ListenerLog,
    private readonly options: BlockioWebhookOptions = {},
  ) {
    super();
    this.secretDigest = digest(`${BLOCKIO_WEBHOOK_PATH}${config.pathSecret}`);
    this.delivery = new Delivery('blockio-webhook', this.endpoint(config.port), onTxid, log);
  }

  /** The port the server is bound to (the chosen one when the configured port is 0). */
  get port(): number {
    if (this.bound === undefined) throw new Error('the block.io webhook listener has not been started');
    return this.bound.port;
  }

  /** The local URL, secret included: for tests and the reverse proxy's upstream. Do not log it. */
  get url(): string {
    return `http://${hostForUrl(this.config.host)}:${this.port}${BLOCKIO_WEBHOOK_PATH}${this.config.pathSecret}`;
  }

  /** Deliveries answered 200 without handing their txid on again. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  override status(): ListenerStatus {
    const status = this.delivery.status();
    return this.bound === undefined ? status : { ...status, endpoint: this.endpoint(this.bound.port) };
  }

  /** Where we listen, with the secret replaced: safe for logs and the status page. */
  private endpoint(port: number): string {
    return `http://${hostForUrl(this.config.host)}:${port}${BLOCKIO_WEBHOOK_PATH}***`;
  }

  protected async begin(): Promise<void> {
    this.delivery.state = 'starting';
    const api = this.options.api;
    if (this.config.manage && !api) {
      this.delivery.state = 'failed';
      throw new NotificationListenerError(
        "walletnotify: blockio-webhook has manage: true but the coin's backend offers no block.io API to create the notification with",
      );
    }
    const server = createLimitedServer({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS }, (req, res) =>
      this.handle(req, res),
    );
    await bindListener(server, this.config, this.delivery, 'block.io webhooks');
    this.server = server;
    this.bound = server.address() as AddressInfo;
    server.on('error', (error) => this.fail(error));
    // Listening before create_notification: block.io pings the URL before it creates anything.
    if (this.config.manage && api) await this.createNotification(api, server);
    this.delivery.state = 'listening';
    this.log.info(
      { listener: this.kind, url: this.endpoint(this.bound.port), notificationId: this.notificationId },
      'walletnotify: listening for block.io webhooks',
    );
  }

  private async createNotification(api: BlockioNotificationApi, server: Server): Promise<void> {
    const publicUrl = `${this.config.publicUrl!.replace(/\/+$/, '')}${BLOCKIO_WEBHOOK_PATH}${this.config.pathSecret}`;
    try {
      this.notificationId = await api.createNotification(publicUrl);
    } catch (error) {
      this.delivery.state = 'failed';
      this.delivery.recordError(error);
      this.server = undefined;
      await closeServer(server);
      // The URL holds the secret: the message names the key, not the value.
      throw new NotificationListenerError(
        `walletnotify: block.io did not create the webhook notification for public_url: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  protected async close(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const id = this.notificationId;
    if (id !== null && this.options.api) {
      try {
        await this.options.api.deleteNotification(id);
        this.notificationId = null;
        this.log.info({ listener: this.kind, notificationId: id }, 'walletnotify: deleted the block.io webhook notification');
      } catch (error) {
        // Left behind, block.io keeps posting to a path nobody answers and then disables it.
        this.delivery.recordError(error);
        this.log.error(
          { listener: this.kind, notificationId: id, err: describeError(error) },
          'walletnotify: could not delete the block.io webhook notification; delete it with delete_notification',
        );
      }
    }
    const server = this.server;
    this.server = undefined;
    if (this.delivery.state !== 'failed') this.delivery.state = 'stopped';
    if (!server) return;
    await closeServer(server);
    this.log.info({ listener: this.kind }, 'walletnotify: block.io webhook listener stopped');
  }

  private fail(error: Error): void {
    this.delivery.state = 'failed';
    this.delivery.recordError(error);
    this.log.error({ listener: this.kind, err: error }, 'walletnotify: the block.io webhook listener failed');
    this.options.onFatal?.(error, this);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => req.destroy());
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/(.)\/$/, '$1');
    // Compared in constant time: the path is the only credential a webhook carries.
    if (!timingSafeEqual(digest(pathname), this.secretDigest)) return this.refuse(res, 404, 'no such path');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return this.refuse(res, 405, `method ${req.method ?? '?'} not allowed`);
    }
    // The content type is not checked: block.io's documentation does not name one, and the body must parse as JSON anyway.
    const limit = this.config.maxBodyBytes;
    if (Number(req.headers['content-length'] ?? 0) > limit) return this.refuseOversized(req, res);
    readBody(req, limit).then(
      (body) => (body === null ? this.refuseOversized(req, res) : this.accept(body, res)),
      () => req.destroy(),
    );
  }

  private accept(body: string, res: ServerResponse): void {
    const message = parseBlockioMessage(body);
    switch (message.kind) {
      case 'ping':
        this.delivery.heard();
        return reply(res, 200, 'pong');
      case 'ignored':
        this.delivery.heard();
        return reply(res, 200, `ignored ${message.type}`);
      case 'transaction':
        if (!this.seen.add(`${message.txid}:${message.confirmations ?? '?'}`)) {
          this.delivery.heard();
          this.duplicateCount++;
          return reply(res, 200, 'ok (seen before)');
        }
        this.delivery.offer(message.txid);
        return reply(res, 200, 'ok');
      case 'invalid':
        return this.refuse(res, 400, message.reason, body);
      default:
        return this.refuse(res, 400, `unexpected ${message.kind} message on a webhook`, body);
    }
  }

  private refuse(res: ServerResponse, status: number, reason: string, raw?: string): void {
    this.delivery.reject(reason, raw);
    reply(res, status, reason);
  }

  private refuseOversized(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Connection', 'close');
    this.refuse(res, 413, `body larger than ${this.config.maxBodyBytes} bytes`);
    res.on('finish', () => req.destroy());
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
