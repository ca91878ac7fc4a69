/**
 * A client of block.io's API v2: `METHOD/` below a base URL, the API key as `api_key` in the
 * query string, GET without arguments and POST with a form body otherwise (as block.io's own
 * clients send it; a structured argument such as `transaction_data` goes as JSON text), and
 * every answer in the `{status, data}` envelope.
 *
 * - One time limit per request (`AbortSignal.timeout`).
 * - Throttling (HTTP 419, 420, 429) of a read is retried with back-off a bounded number of
 *   times; after that, or at once for a submit, the call fails with `BackendError` `throttled`
 *   (retryable: nothing was done).
 * - HTTP 5xx is `service_error`; a `fail` answer is `BlockioRefusal` carrying block.io's
 *   `error_message`, classified into the ledger's refusal codes where it can be.
 * - A request that is not idempotent (`submit_transaction`) is never retried, and its timeout or
 *   broken connection is `outcome_unknown`: block.io may have broadcast it.
 * - The API key never appears in an error: URLs are never quoted, and every message that
 *   carries text from outside passes through `redact` (the PIN is redacted too, should block.io
 *   ever echo it).
 */
import { performance } from 'node:perf_hooks';
import { ANSWER_TOO_LARGE, DEADLINE_PASSED, OUTCOME_UNKNOWN } from '../backend.js';
import { BackendError, type BackendErrorCode } from '../../domain/errors.js';

/** Retry policy of throttled requests. */
export interface BlockioRetryPolicy {
  /** Attempts in total, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; each later delay doubles. */
  readonly baseDelayMs: number;
}

/** Default: 4 attempts, 500 ms, 1 s, 2 s apart. */
export const BLOCKIO_RETRY_DEFAULT: BlockioRetryPolicy = { attempts: 4, baseDelayMs: 500 };

/** Options of `new BlockioClient`. */
export interface BlockioClientOptions {
  /** Base URL ending in `/`, e.g. `https://block.io/api/v2/`. */
  readonly apiUrl: string;
  readonly apiKey: string;
  /** Secrets that must never appear in errors besides the API key (the PIN). */
  readonly secrets?: readonly string[];
  readonly timeoutMs: number;
  readonly retry?: BlockioRetryPolicy;
  /** Largest answer read, in bytes; a larger one fails with `answer_too_large`. Default 32 MiB. */
  readonly maxAnswerBytes?: number;
}

/** Default answer cap: far above any answer of a page or a transaction, far below the heap. */
export const BLOCKIO_MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** Longest `error_message` quoted in an error: one line, never a page of HTML. */
const MESSAGE_MAX = 300;

/** Per-call options. */
export interface BlockioCallOptions {
  /** Repeating the call changes nothing (all reads). Default true. */
  readonly idempotent?: boolean;
  /** `performance.now()` time after which the request must not leave (see `SendOptions.notAfter`). */
  readonly notAfter?: number;
}

/** HTTP statuses block.io answers when a key sends too many requests. */
const THROTTLE_STATUSES = new Set([419, 420, 429]);

/** A `fail` answer: block.io refused what was asked; its message says why. */
export class BlockioRefusal extends BackendError {
  /** block.io's `error_message`, redacted. */
  readonly blockioMessage: string;
  constructor(method: string, message: string, code: BackendErrorCode) {
    super(`block.io refused ${method}: ${message}`, { retryable: true, code });
    this.blockioMessage = message;
  }
}

/**
 * The refusal code of a block.io `error_message`. block.io has no error codes, only sentences,
 * so the ledger's batch splitting relies on these few patterns; anything else is `rejected`.
 */
export function refusalCode(message: string): BackendErrorCode {
  // The key first: "API Key invalid" is about the account, not the request.
  if (/api key|not authori[sz]ed|api access/i.test(message)) return 'unauthorized';
  if (/insufficient|not enough|cannot withdraw funds without|maximum withdrawable balance/i.test(message)) return 'insufficient_funds';
  if (/invalid|must be|missing|minimum|too (many|long|short)|not a valid|already exists|duplicate/i.test(message)) return 'invalid_request';
  return 'rejected';
}

/** A block.io API client for one API key (one network). */
export class BlockioClient {
  readonly #options: BlockioClientOptions;
  readonly #secrets: readonly string[];

  constructor(options: BlockioClientOptions) {
    this.#options = options;
    this.#secrets = [options.apiKey, ...(options.secrets ?? [])].filter((secret) => secret.length > 0);
  }

  /**
   * Call `method` with `args` (GET without, POST with a form body) and return `data` of a
   * `success` answer.
   * @throws BlockioRefusal for a `fail` answer; BackendError otherwise (see the module comment).
   */
  async call<T = Record<string, unknown>>(
    method: string,
    args: Record<string, unknown> = {},
    options: BlockioCallOptions = {},
  ): Promise<T> {
    const idempotent = options.idempotent ?? true;
    const retry = this.#options.retry ?? BLOCKIO_RETRY_DEFAULT;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once<T>(method, args, idempotent, options.notAfter);
      } catch (error) {
        // A throttled request was not carried out; still, a submit is never sent a second time.
        const throttled = error instanceof BackendError && error.code === 'throttled';
        if (!throttled || !idempotent || attempt >= retry.attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, retry.baseDelayMs * 2 ** (attempt - 1)));
      }
    }
  }

  async #once<T>(method: string, args: Record<string, unknown>, idempotent: boolean, notAfter: number | undefined): Promise<T> {
    const url = new URL(`${method}/`, this.#options.apiUrl);
    url.searchParams.set('api_key', this.#options.apiKey);
    const hasArgs = Object.keys(args).length > 0;
    const init: RequestInit = {
      method: hasArgs ? 'POST' : 'GET',
      headers: { accept: 'application/json', ...(hasArgs ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(hasArgs ? { body: formBody(args) } : {}),
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    };
    // Checked synchronously right before the request leaves: past it, nothing is sent.
    if (notAfter !== undefined && performance.now() > notAfter) {
      throw new BackendError(`block.io ${method} not sent: its deadline had passed`, { retryable: true, code: DEADLINE_PASSED });
    }
    let response: Response;
    let body: string;
    try {
      response = await fetch(url, init);
      body = await this.#readCapped(response, method, idempotent);
    } catch (error) {
      if (error instanceof BackendError) throw error;
      throw this.#transportError(method, error, idempotent);
    }
    if (THROTTLE_STATUSES.has(response.status)) {
      throw new BackendError(`block.io throttled ${method} (HTTP ${response.status})`, { retryable: true, code: 'throttled' });
    }
    const envelope = parseEnvelope(body);
    if (envelope?.status === 'fail') {
      const message = this.redact(oneLine(String(envelope.data?.error_message ?? 'no error_message given')));
      throw new BlockioRefusal(method, message, refusalCode(message));
    }
    if (response.status >= 500) {
      throw new BackendError(`block.io internal error on ${method} (HTTP ${response.status})`, {
        retryable: idempotent,
        code: idempotent ? 'service_error' : OUTCOME_UNKNOWN,
      });
    }
    if (envelope?.status !== 'success' || typeof envelope.data !== 'object' || envelope.data === null) {
      throw new BackendError(`block.io answered ${method} with HTTP ${response.status} and no success envelope`, {
        retryable: idempotent,
        code: idempotent ? 'garbage' : OUTCOME_UNKNOWN,
      });
    }
    return envelope.data as T;
  }

  /** The body as text, abandoned as soon as it passes the cap (nothing beyond it is held). */
  async #readCapped(response: Response, method: string, idempotent: boolean): Promise<string> {
    const cap = this.#options.maxAnswerBytes ?? BLOCKIO_MAX_ANSWER_BYTES;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > cap) {
        await response.body?.cancel().catch(() => undefined);
        throw new BackendError(`block.io answered ${method} with more than ${cap} bytes`, {
          retryable: idempotent,
          code: idempotent ? ANSWER_TOO_LARGE : OUTCOME_UNKNOWN,
        });
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  #transportError(method: string, error: unknown, idempotent: boolean): BackendError {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const detail = this.redact(timedOut ? `no answer within ${this.#options.timeoutMs} ms` : describeCause(error));
    if (!idempotent) {
      return new BackendError(`block.io ${method}: ${detail}; it may have been carried out`, { retryable: false, code: OUTCOME_UNKNOWN });
    }
    return new BackendError(`block.io ${method}: ${detail}`, { retryable: true, code: 'node_unreachable' });
  }

  /** `text` with every secret of this client replaced by `***`. */
  redact(text: string): string {
    let result = text;
    for (const secret of this.#secrets) result = result.split(secret).join('***');
    return result;
  }
}

interface Envelope {
  readonly status?: unknown;
  readonly data?: Record<string, unknown> | null;
}

function parseEnvelope(body: string): Envelope | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

function formBody(args: Record<string, unknown>): string {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(args)) {
    form.set(name, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value));
  }
  return form.toString();
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX)}…` : line;
}

/** The message of a fetch failure, which hides the socket error in `cause`; never the URL. */
function describeCause(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? `connection failed (${code})` : 'connection failed';
}
