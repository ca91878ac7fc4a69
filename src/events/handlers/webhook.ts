/**
 * The webhook handler: POSTs each event as JSON to a URL, signed when a secret is configured.
 *
 * Unlike the original, every request has a time limit, and nothing but a 2xx answer counts as
 * delivered: a redirect is a failure because following it blindly could send signed events to a
 * host the operator never configured.
 */
import type { WebhookHandlerConfig } from '../../config/types.js';
import type { CryptoAssetsEvent, EventHandler } from '../types.js';
import { describeCause, EventDeliveryError } from './errors.js';
import { SIGNATURE_HEADER, signPayload } from './signature.js';
import { userAgent } from './user-agent.js';

export { signPayload, verifySignature, SIGNATURE_HEADER } from './signature.js';
export type { SignatureCheck, SignatureFailure, VerifyOptions } from './signature.js';

/** Bytes of a failed answer's body quoted in the error: enough for an error message, not a page. */
const RESPONSE_SNIPPET_BYTES = 200;

/** The settings a webhook needs; `type` may be present, as in a `WebhookHandlerConfig`. */
export type WebhookSettings = Omit<WebhookHandlerConfig, 'type'> & { readonly type?: 'webhook' };

/** Tuning for tests and embedding. */
export interface WebhookHandlerOptions {
  /** Clock in milliseconds for the signature timestamp; default `Date.now`. */
  now?: () => number;
  /** Replaces the default `cryptoassets/<version>`. */
  userAgent?: string;
}

/** Delivers events by HTTP POST. One `deliver` call is one request. */
export class WebhookHandler implements EventHandler {
  readonly name: string;
  readonly maxAttempts: number;
  private readonly url: URL;
  /** From credentials in the URL: fetch refuses a URL that carries them, so they travel as a header. */
  private readonly authorization: string | undefined;
  private readonly secret: string | undefined;
  private readonly timeoutMs: number;
  /** The URL as it may appear in messages: no credentials, no query (either may hold a token). */
  private readonly shownUrl: string;

  constructor(
    name: string,
    settings: WebhookSettings,
    private readonly options: WebhookHandlerOptions = {},
  ) {
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      // Not rethrown: Node's error carries the input, which may hold credentials.
      throw new TypeError(`webhook ${JSON.stringify(name)}: url is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`webhook ${JSON.stringify(name)}: url must be http:// or https://`);
    }
    if (!Number.isSafeInteger(settings.timeoutMs) || settings.timeoutMs < 1) {
      throw new RangeError(`webhook ${JSON.stringify(name)}: timeoutMs must be a positive integer`);
    }
    this.name = name;
    this.maxAttempts = settings.maxAttempts;
    if (url.username || url.password) {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      this.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.url = url;
    // An empty secret signs with a key anyone can guess; treat it as a mistake, not as unsigned.
    if (settings.secret === '') throw new TypeError(`webhook ${JSON.stringify(name)}: secret must not be empty`);
    this.secret = settings.secret;
    this.timeoutMs = settings.timeoutMs;
    this.shownUrl = showUrl(url);
  }

  /** Resolves on a 2xx answer; throws an {@link EventDeliveryError} on anything else. */
  async deliver(event: CryptoAssetsEvent): Promise<void> {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': this.options.userAgent ?? userAgent(),
      'cryptoassets-event-id': event.id,
      'cryptoassets-event-name': event.name,
    };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    if (this.secret !== undefined) {
      const now = this.options.now?.() ?? Date.now();
      headers[SIGNATURE_HEADER] = signPayload(this.secret, body, Math.floor(now / 1000));
    }
    // One signal for the whole exchange: it also bounds reading the answer's body.
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers, body, redirect: 'manual', signal });
    } catch (error) {
      const reason = signal.aborted
        ? `no answer from ${this.shownUrl} within ${this.timeoutMs} ms`
        : `cannot reach ${this.shownUrl}: ${describeCause(error)}`;
      throw this.failure(reason, error);
    }
    if (response.status >= 200 && response.status < 300) {
      // The body is not needed; cancelling releases the connection without waiting for it.
      await response.body?.cancel().catch(() => undefined);
      return;
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      const target = location ? ` to ${showLocation(location, this.url)}` : '';
      throw this.failure(
        `${this.shownUrl} answered ${statusLine(response)}, a redirect${target}; redirects are not followed, configure the final URL`,
      );
    }
    const snippet = await readSnippet(response, RESPONSE_SNIPPET_BYTES);
    throw this.failure(`${this.shownUrl} answered ${statusLine(response)}${snippet ? `: ${snippet}` : ''}`);
  }

  private failure(reason: string, cause?: unknown): EventDeliveryError {
    return new EventDeliveryError(
      this.name,
      `webhook ${JSON.stringify(this.name)}: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  }
}

function statusLine(response: Response): string {
  return response.statusText ? `${response.status} ${response.statusText}` : String(response.status);
}

function showUrl(url: URL): string {
  return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}

function showLocation(location: string, base: URL): string {
  try {
    return showUrl(new URL(location, base));
  } catch {
    return 'an invalid location';
  }
}

/**
 * The start of a failed answer's body, as one line of printable text. Bounded both in bytes read
 * (a receiver may stream an endless page) and in time (the request's signal still applies).
 */
async function readSnippet(response: Response, limit: number): Promise<string> {
  const stream = response.body;
  if (!stream) return '';
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // A timeout or reset while reading the error page: report what arrived.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, limit).toString('utf8');
  return (
    text
      // eslint-disable-next-line no-control-regex -- control characters are what this removes
      .replace(/[\u0000-\u001f\u007f\ufffd]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
  );
}
