/**
 * The application side of the webhook: a request handler that checks the signature, parses the
 * event, skips events already handled, and calls the application's `onEvent`.
 *
 * Status codes are chosen for the sender's retry logic: 2xx means "never send this again"; every
 * other answer makes the sender retry (and eventually dead-letter). So 2xx is given only once
 * `onEvent` has returned, or for an id already handled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SIGNATURE_HEADER, verifySignature } from '../handlers/signature.js';
import type { CryptoAssetsEvent } from '../types.js';
import { MemoryDedupeStore, type DedupeStore } from './dedupe.js';
import { parseEvent } from './parse-event.js';
import { readLimitedBody } from '../../http/read-limited-body.js';

/** Largest accepted body by default: an event is about 1 KiB. */
export const RECEIVER_BODY_BYTES_MAX_DEFAULT = 1024 * 1024;

/** Options of {@link createEventReceiver}. */
export interface EventReceiverOptions {
  /** The webhook's `secret`. Required: an unsigned request could come from anyone. */
  secret: string;
  /** Handles one event. Return (or resolve) once it is safely recorded; throw to have it sent again. */
  onEvent: (event: CryptoAssetsEvent) => Promise<void> | void;
  /** Where handled ids are remembered; default an in-memory LRU of 10,000 ids. */
  seen?: DedupeStore;
  /** Accepted clock difference for signature timestamps. Default 300. */
  toleranceSeconds?: number;
  /** Largest accepted body. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Told about failures of `onEvent` and of the dedupe store (the sender only sees a bare 500).
   * Default: one line on `console.error`.
   */
  onError?: (error: unknown, event: CryptoAssetsEvent) => void;
}

/** A `node:http` request listener that is also Express/Connect middleware. */
export type EventRequestHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** An outcome of handling one event, shared with concurrent deliveries of the same id. */
type Handled = 'handled' | 'duplicate' | 'failed';

/**
 * Builds the request handler. Use it as `http.createServer(handler)`, call it from your own
 * server for one path, or mount it in Express after `express.raw({ type: 'application/json' })`
 * (a body already parsed into an object cannot be verified: its exact bytes are gone).
 */
export function createEventReceiver(options: EventReceiverOptions): EventRequestHandler {
  if (typeof options.secret !== 'string' || options.secret === '') {
    throw new TypeError('createEventReceiver: secret is required (the webhook secret from the cryptoassets configuration)');
  }
  const maxBodyBytes = options.maxBodyBytes ?? RECEIVER_BODY_BYTES_MAX_DEFAULT;
  const seen = options.seen ?? new MemoryDedupeStore();
  const onError = options.onError ?? reportToConsole;
  // Deliveries in progress by id: a retry that arrives while the first attempt is still running
  // waits for it instead of calling onEvent a second time.
  const inFlight = new Map<string, Promise<Handled>>();

  async function handleEvent(event: CryptoAssetsEvent): Promise<Handled> {
    const running = inFlight.get(event.id);
    if (running) return (await running) === 'failed' ? 'failed' : 'duplicate';
    const attempt = (async (): Promise<Handled> => {
      try {
        if (await seen.has(event.id)) return 'duplicate';
        await options.onEvent(event);
        // Only now: if onEvent failed, the sender's next attempt must be handled, not skipped.
        await seen.add(event.id);
        return 'handled';
      } catch (error) {
        onError(error, event);
        return 'failed';
      }
    })();
    inFlight.set(event.id, attempt);
    try {
      return await attempt;
    } finally {
      inFlight.delete(event.id);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A client that disconnects mid-body must not leave an unhandled 'error' behind.
    req.on('error', () => undefined);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return reply(res, 405, 'method not allowed: events are POSTed');
    }
    const body = await takeBody(req, res, maxBodyBytes);
    if (body === null) return;
    const check = verifySignature(options.secret, body, req.headers[SIGNATURE_HEADER], {
      toleranceSeconds: options.toleranceSeconds,
    });
    if (!check.ok) return reply(res, 401, `signature ${check.reason}`);
    const parsed = parseEvent(body.toString('utf8'));
    if (!parsed.ok) return reply(res, 400, parsed.reason);
    const outcome = await handleEvent(parsed.event);
    if (outcome === 'failed') return reply(res, 500, 'the event was not handled; send it again');
    reply(res, 200, outcome === 'duplicate' ? 'duplicate: already handled' : 'ok');
  }

  return (req, res, next) => {
    handle(req, res).catch((error: unknown) => {
      // Only a bug gets here: hand it to the framework if there is one, else answer 500.
      if (next && !res.headersSent) return next(error);
      reply(res, 500, 'internal error');
      if (!next) console.error('cryptoassets event receiver: internal error', error);
    });
  };
}

/**
 * The raw body: from `req.body` when a framework already read it as bytes or text, else read from
 * the request. Answers the request itself (413, 500) and returns null when there is no usable body.
 */
async function takeBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | null> {
  const preRead = (req as IncomingMessage & { body?: unknown }).body;
  if (Buffer.isBuffer(preRead) || typeof preRead === 'string') {
    const bytes = Buffer.isBuffer(preRead) ? preRead : Buffer.from(preRead, 'utf8');
    if (bytes.length > limit) {
      reply(res, 413, `body larger than ${limit} bytes`);
      return null;
    }
    return bytes;
  }
  if (req.readableEnded) {
    // Something (express.json(), a body parser) consumed the stream and kept only a parsed copy.
    reply(res, 500, 'the request body was already parsed; mount the receiver after express.raw({ type: "application/json" })');
    return null;
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  const body = declared > limit ? null : await readLimitedBody(req, limit);
  if (body === null) {
    // Answer now and drop the connection rather than reading (or buffering) the rest.
    res.setHeader('Connection', 'close');
    reply(res, 413, `body larger than ${limit} bytes`);
    res.once('finish', () => req.destroy());
    return null;
  }
  return body;
}

function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function reportToConsole(error: unknown, event: CryptoAssetsEvent): void {
  const reason = error instanceof Error ? error.message : String(error);
  console.error(`cryptoassets event receiver: event ${event.id} (${event.name}) was not handled: ${reason}`);
}
