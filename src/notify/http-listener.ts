/**
 * Receives `curl --data txid=%s http://127.0.0.1:28882/` from the node's walletnotify hook.
 *
 * The server is plain `node:http`, which serves requests concurrently; the defences are the ones
 * a loopback service needs against a misbehaving local client: small body and header limits and
 * timeouts that stop a slow client from holding connections open.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpWalletNotifyConfig } from '../config/types.js';
import { Delivery } from './delivery.js';
import { ListenerBase } from './listener-base.js';
import type { CommonListenerOptions, ListenerLog, ListenerStatus, TxidHandler } from './types.js';
import { bindListener, closeServer, createLimitedServer, hostForUrl, mediaType, readBody, reply } from './http-server.js';

/** Paths a notification may be posted to: the bare URL, or one that says what it is. */
const PATHS = new Set(['/', '/walletnotify']);

/** A form body `txid=<64 hex>` is 69 bytes; 1 KiB leaves room for extra fields and still refuses junk. */
export const HTTP_BODY_BYTES_MAX = 1024;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** Tuning of the HTTP listener; the defaults suit production. */
export interface HttpListenerOptions extends CommonListenerOptions {
  /** Largest accepted body; larger ones get 413. Default 1024. */
  bodyBytesMax?: number;
  /** Time a client has to send all headers. Default 5000. */
  headersTimeoutMs?: number;
  /** Time a client has to send the whole request. Default 10000. */
  requestTimeoutMs?: number;
}

/** The HTTP style of walletnotify. */
export class HttpNotificationListener extends ListenerBase {
  readonly kind = 'http' as const;
  protected readonly delivery: Delivery;
  private readonly bodyBytesMax: number;
  private readonly headersTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private server: Server | undefined;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly config: HttpWalletNotifyConfig,
    onTxid: TxidHandler,
    private readonly log: ListenerLog,
    private readonly options: HttpListenerOptions = {},
  ) {
    super();
    this.bodyBytesMax = options.bodyBytesMax ?? HTTP_BODY_BYTES_MAX;
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.headersTimeoutMs = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    this.delivery = new Delivery('http', `http://${hostForUrl(config.host)}:${config.port}/`, onTxid, log);
  }

  /** The address and port the server is bound to (the chosen port when the configured one is 0). */
  get address(): AddressInfo {
    if (this.bound === undefined) throw new Error('the HTTP notification listener has not been started');
    return this.bound;
  }

  /** The port the server is bound to (the chosen one when the configured port is 0). */
  get port(): number {
    return this.address.port;
  }

  /** The URL the node's hook should post to. */
  get url(): string {
    return `http://${hostForUrl(this.config.host)}:${this.port}/`;
  }

  protected async begin(): Promise<void> {
    this.delivery.state = 'starting';
    const server = createLimitedServer({ headersTimeoutMs: this.headersTimeoutMs, requestTimeoutMs: this.requestTimeoutMs }, (req, res) =>
      this.handle(req, res),
    );
    await bindListener(server, this.config, this.delivery, 'HTTP notifications');
    this.server = server;
    this.bound = server.address() as AddressInfo;
    server.on('error', (error) => this.fail(error));
    this.delivery.state = 'listening';
    this.log.info({ listener: 'http', url: this.url }, 'walletnotify: listening for HTTP notifications');
  }

  override status(): ListenerStatus {
    const status = this.delivery.status();
    return this.bound === undefined ? status : { ...status, endpoint: this.url };
  }

  protected async close(): Promise<void> {
    // Let a start() in progress finish, so that whatever it opened is closed below.
    await this.starting?.catch(() => undefined);
    const server = this.server;
    this.server = undefined;
    if (this.delivery.state !== 'failed') this.delivery.state = 'stopped';
    if (!server) return;
    await closeServer(server);
    this.log.info({ listener: 'http' }, 'walletnotify: HTTP listener stopped');
  }

  private fail(error: Error): void {
    this.delivery.state = 'failed';
    this.delivery.recordError(error);
    this.log.error({ listener: 'http', err: error }, 'walletnotify: the HTTP listener failed');
    this.options.onFatal?.(error, this);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // A client that disconnects mid-body must not leave an unhandled 'error' behind.
    req.on('error', () => req.destroy());
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!PATHS.has(pathname)) return this.refuse(res, 404, `no such path ${pathname}`);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return this.refuse(res, 405, `method ${req.method ?? '?'} not allowed`);
    }
    const contentType = mediaType(req.headers['content-type']);
    if (contentType !== '' && contentType !== FORM && contentType !== TEXT) {
      return this.refuse(res, 415, `unsupported content type ${contentType}`);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.bodyBytesMax) return this.refuseOversized(req, res);
    readBody(req, this.bodyBytesMax).then(
      (body) => {
        if (body === null) return this.refuseOversized(req, res);
        const candidate = extractTxid(body, contentType);
        if (candidate === null) return this.refuse(res, 400, 'no single txid field in the body', body);
        if (!this.delivery.offer(candidate)) return reply(res, 400, 'malformed txid: expected 64 hexadecimal characters');
        reply(res, 200, 'ok');
      },
      () => req.destroy(),
    );
  }

  private refuse(res: ServerResponse, status: number, reason: string, raw?: string): void {
    this.delivery.reject(reason, raw);
    reply(res, status, reason);
  }

  /** 413, then drop the connection instead of reading the rest of a huge body. */
  private refuseOversized(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Connection', 'close');
    this.refuse(res, 413, `body larger than ${this.bodyBytesMax} bytes`);
    res.on('finish', () => req.destroy());
  }
}

const FORM = 'application/x-www-form-urlencoded';
const TEXT = 'text/plain';

/**
 * The txid candidate in a body: the `txid` field of a form, or the whole body when it is bare
 * text (`curl --data %s` without the `txid=` prefix, or `text/plain`). Null when ambiguous.
 */
function extractTxid(body: string, contentType: string): string | null {
  const trimmed = body.trim();
  if (contentType === TEXT || !trimmed.includes('=')) return trimmed;
  const values = new URLSearchParams(trimmed).getAll('txid');
  return values.length === 1 ? values[0]! : null;
}
