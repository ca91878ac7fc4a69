/**
 * What the two HTTP listeners (the node's walletnotify posts, block.io's webhooks) share: a
 * `node:http` server with the small header limit and the timeouts a loopback service needs
 * against a client that sends very slowly, binding it, and short plain-text replies.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { readLimitedBody } from '../http/read-limited-body.js';
import type { Delivery } from './delivery.js';
import { describeError, NotificationListenerError } from './errors.js';

/** Node rejects larger headers with 431; curl and block.io send a few hundred bytes. */
const HEADER_BYTES_MAX = 8 * 1024;

/** Time limits of a listener's server. */
export interface ServerTimeouts {
  /** Time a client has to send all headers. */
  readonly headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  readonly requestTimeoutMs: number;
}

/** A server enforcing `timeouts` (the headers limit clamped to the request limit, as Node requires). */
export function createLimitedServer(timeouts: ServerTimeouts, handler: RequestListener): Server {
  const headersTimeout = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  return createServer(
    {
      headersTimeout,
      requestTimeout: timeouts.requestTimeoutMs,
      // Timeouts are only enforced when this check runs (default every 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 2))),
      keepAliveTimeout: 5_000,
      maxHeaderSize: HEADER_BYTES_MAX,
    },
    handler,
  );
}

/** Bind `server`; rejects with the bind error (port taken, address not local). */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Bind `server` for a listener; on failure mark its delivery failed and reject with a
 * NotificationListenerError naming `what` and the address.
 */
export async function bindListener(
  server: Server,
  config: { host: string; port: number },
  delivery: Delivery,
  what: string,
): Promise<void> {
  try {
    await listen(server, config.port, config.host);
  } catch (error) {
    delivery.state = 'failed';
    delivery.recordError(error);
    throw new NotificationListenerError(
      `walletnotify: cannot listen for ${what} on ${hostForUrl(config.host)}:${config.port}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/** Close `server` now, cutting idle keep-alive connections instead of waiting for them to time out. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** A one-line plain-text answer, unless one was sent already. */
export function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** IPv6 literals need brackets in a URL. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The media type of a Content-Type header, lowercased, without parameters; '' when absent. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** The body as text, or null as soon as it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  const body = await readLimitedBody(req, limit);
  return body === null ? null : body.toString('utf8');
}
