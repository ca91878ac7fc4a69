/**
 * A JSON-RPC 1.0 client for bitcoind and its forks, on Node's built-in `node:http` (see
 * `HttpTransport` for why not `fetch`).
 *
 * - Authentication by `Authorization: Basic` (username/password, or the node's cookie file).
 *   The cookie is read lazily and read again once after an HTTP 401, because the node writes a
 *   new cookie at every start.
 * - Wallet-scoped endpoint `/wallet/<name>` when a wallet is configured.
 * - One connection per call unless `keepAlive` is set (see `RpcClientOptions.keepAlive`).
 * - Numbers in answers are kept exact (`JsonNumber`), and `JsonNumber` parameters are sent as
 *   bare numbers: amounts never pass through a float.
 * - A time limit per call; bounded retries with back-off, only for calls the caller declares
 *   idempotent and only after failures that are retryable.
 * - A size limit on answers (`maxAnswerBytes`): the body is counted as it arrives and the request
 *   abandoned as soon as it passes the limit, so no answer is ever held beyond it. An unbounded
 *   answer (`listsinceblock` of a large wallet) would otherwise exhaust memory or V8's string
 *   length, a crash no caller could catch.
 * - A send deadline (`CallOptions.notAfter`), checked synchronously right before the request is
 *   written to a connected socket. The request is only written once its connection is up, so a
 *   failure before that point (refused, timed out while connecting, deadline) proves it never left.
 * - Every failure is a typed `BackendError` (see `rpc-errors.ts`). Credentials never appear in
 *   messages: they live only in the Authorization header, which no error mentions.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { DEADLINE_PASSED } from '../backend.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { BitcoindAuth } from '../../config/types.js';
import type { BackendError } from '../../domain/errors.js';
import { parseLosslessJson, stringifyLossless } from './lossless-json.js';
import { classifyNetworkFailure, RpcError, transportError } from './rpc-errors.js';

/** Retry policy of idempotent calls. */
export interface RpcRetryPolicy {
  /** Attempts in total, the first included. 1 disables retries. */
  readonly attempts: number;
  /** Delay before the second attempt; each later delay is three times the previous one. */
  readonly baseDelayMs: number;
}

/** Default: 3 attempts, 100 ms then 300 ms apart. */
export const RPC_RETRY_DEFAULT: RpcRetryPolicy = { attempts: 3, baseDelayMs: 100 };

/** Options of `new RpcClient`. */
export interface RpcClientOptions {
  /** Node URL without credentials and without a path, e.g. `http://127.0.0.1:18443`. */
  readonly url: string;
  readonly auth: BitcoindAuth;
  /** Wallet for `/wallet/<name>`; absent for the node's default endpoint. */
  readonly wallet?: string;
  /** Time limit of one HTTP request, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Largest answer body read, in bytes; a larger one fails the call with `answer_too_large`.
   * Default `DEFAULTS.backend.bitcoind.maxAnswerBytes` (64 MiB).
   */
  readonly maxAnswerBytes?: number;
  readonly retry?: RpcRetryPolicy;
  /**
   * Keep connections open between calls. Default false: every call opens its own connection and
   * asks the node to close it (`Connection: close`). On loopback that costs a fraction of a
   * millisecond and buys two things: a connection the node closed while idle can never break a
   * send and make its outcome unknown, and the node does not wait for our idle connections when
   * it shuts down (it otherwise waits for them to time out).
   */
  readonly keepAlive?: boolean;
}

/** Per-call options. */
export interface CallOptions {
  /**
   * The call can be repeated without changing the outcome (reads; unlocking). Timeouts and
   * broken connections of such calls are retryable and retried; of other calls they are
   * `outcome_unknown`. Default false.
   */
  readonly idempotent?: boolean;
  /** Overrides the client's time limit for this call. */
  readonly timeoutMs?: number;
  /**
   * A `performance.now()` time after which the request must not be written: checked before the
   * exchange starts and again synchronously right before the body goes to the connected socket.
   * Past it the call fails with `deadline_passed` (retryable, nothing sent) and is not retried.
   */
  readonly notAfter?: number;
}

/** One call of a batch. */
export interface RpcRequest {
  readonly method: string;
  readonly params?: readonly unknown[];
}

/** The answer to one call of a batch. */
export type RpcResult = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: BackendError };

/** What the backend needs of a client; `RpcClient` is the real one, tests may inject another. */
export interface RpcTransport {
  /** Where calls go, for messages; never holds credentials. */
  readonly endpoint: string;
  call(method: string, params?: readonly unknown[], options?: CallOptions): Promise<unknown>;
  batch(requests: readonly RpcRequest[], options?: CallOptions): Promise<RpcResult[]>;
}

/** A JSON-RPC 1.0 client; see the module comment. Immutable apart from the cached cookie. */
export class RpcClient implements RpcTransport {
  /** The URL requests go to, `/wallet/<name>` included; safe to log. */
  readonly endpoint: string;
  private readonly options: RpcClientOptions;
  private readonly retry: RpcRetryPolicy;
  private readonly credentials: Credentials;
  private readonly transport: HttpTransport;
  private nextId = 1;

  constructor(options: RpcClientOptions, credentials?: Credentials) {
    const parsed = new URL(options.url);
    if (parsed.username !== '' || parsed.password !== '') {
      // A password in the URL would end up in every error message; configuration refuses it too.
      throw new TypeError('RpcClient: the URL must not contain credentials; use auth');
    }
    if (!Number.isSafeInteger(options.timeoutMs) || options.timeoutMs < 1) {
      throw new RangeError('RpcClient: timeoutMs must be a positive integer');
    }
    if (options.maxAnswerBytes !== undefined && (!Number.isSafeInteger(options.maxAnswerBytes) || options.maxAnswerBytes < 1)) {
      throw new RangeError('RpcClient: maxAnswerBytes must be a positive integer');
    }
    const base = options.url.replace(/\/+$/, '');
    this.endpoint = options.wallet === undefined ? `${base}/` : `${base}/wallet/${encodeURIComponent(options.wallet)}`;
    this.options = options;
    this.retry = options.retry ?? RPC_RETRY_DEFAULT;
    this.credentials = credentials ?? new Credentials(options.auth);
    this.transport = new HttpTransport(this.endpoint, options.keepAlive === true);
  }

  /** A client for another wallet of the same node, sharing credentials (and the cached cookie). */
  forWallet(wallet: string | undefined): RpcClient {
    const { wallet: _ignored, ...rest } = this.options;
    return new RpcClient(wallet === undefined ? rest : { ...rest, wallet }, this.credentials);
  }

  /**
   * Call `method` and return its result, numbers as `JsonNumber`.
   * @throws RpcError when the node answers with an error; BackendError for transport failures.
   */
  async call(method: string, params: readonly unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    const id = this.nextId++;
    const body = stringifyLossless({ jsonrpc: '1.0', id, method, params });
    const answer = await this.withRetries(method, options, () => this.post(method, body, options));
    return this.readResponse(method, id, answer.status, answer.value);
  }

  /**
   * Send several calls in one HTTP request. Each answer is matched to its call by id and reported
   * separately; a failure of the request as a whole throws.
   * @throws BackendError for transport failures or an answer that is not a batch answer.
   */
  async batch(requests: readonly RpcRequest[], options: CallOptions = {}): Promise<RpcResult[]> {
    if (requests.length === 0) return [];
    const ids = requests.map(() => this.nextId++);
    const body = stringifyLossless(
      requests.map((request, index) => ({ jsonrpc: '1.0', id: ids[index], method: request.method, params: request.params ?? [] })),
    );
    const label = `batch of ${requests.length} (${requests[0]?.method}…)`;
    const answer = await this.withRetries(label, options, () => this.post(label, body, options));
    if (!Array.isArray(answer.value)) {
      // A node that cannot parse the batch answers with one error object.
      this.readResponse(label, null, answer.status, answer.value);
      throw this.garbage(label, 'answer to a batch is not an array');
    }
    const byId = new Map<number, unknown>();
    for (const item of answer.value) {
      const itemId = responseId(item);
      if (itemId !== undefined) byId.set(itemId, item);
    }
    return requests.map((request, index): RpcResult => {
      const item = byId.get(ids[index]!);
      if (item === undefined) return { ok: false, error: this.garbage(request.method, 'no answer in the batch') };
      try {
        return { ok: true, result: this.readResponse(request.method, ids[index]!, 200, item) };
      } catch (error) {
        return { ok: false, error: error as BackendError };
      }
    });
  }

  /** Run one HTTP exchange, repeating it for idempotent calls after retryable failures. */
  private async withRetries<T>(label: string, options: CallOptions, attempt: () => Promise<T>): Promise<T> {
    const attempts = options.idempotent ? Math.max(1, this.retry.attempts) : 1;
    let delay = this.retry.baseDelayMs;
    for (let round = 1; ; round++) {
      try {
        return await attempt();
      } catch (error) {
        const retryable = (error as BackendError).retryable === true;
        // A deadline does not come back: trying again could only be refused again.
        if (!retryable || round >= attempts || (error as BackendError).code === DEADLINE_PASSED) throw error;
        await sleep(delay);
        delay *= 3;
      }
    }
  }

  /**
   * POST `body`; return the HTTP status and the parsed JSON body. A 401 makes a cookie client read
   * the cookie again and repeat the request once: the node did not run the call, so repeating it
   * is safe whatever the method.
   */
  private async post(label: string, body: string, options: CallOptions): Promise<{ status: number; value: unknown }> {
    let response = await this.exchange(label, body, options);
    if (response.status === 401 && (await this.credentials.refresh(label, this.endpoint))) {
      response = await this.exchange(label, body, options);
    }
    const { status, text } = response;
    if (status === 401) {
      throw transportError('unauthorized', `bitcoind ${label} at ${this.endpoint}: authentication refused (HTTP 401)`, {
        retryable: false,
      });
    }
    if (status === 403) {
      throw transportError('forbidden', `bitcoind ${label} at ${this.endpoint}: access forbidden (HTTP 403; check rpcallowip)`, {
        retryable: false,
      });
    }
    let value: unknown;
    try {
      value = parseLosslessJson(text);
    } catch (error) {
      // Marking numbers lengthens the text; near the cap that can pass V8's string limit.
      if (isStringTooLong(error)) throw this.tooLarge(label, `${Buffer.byteLength(text)} bytes could not be parsed`);
      throw this.nonJson(label, status, text);
    }
    return { status, value };
  }

  /** One HTTP request with the time limits; network failures become typed errors. */
  private async exchange(label: string, body: string, options: CallOptions): Promise<{ status: number; text: string }> {
    const authorization = await this.credentials.header(label, this.endpoint);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const maxAnswerBytes = this.options.maxAnswerBytes ?? DEFAULTS.backend.bitcoind.maxAnswerBytes;
    const { notAfter } = options;
    if (notAfter !== undefined && performance.now() > notAfter) throw this.deadlinePassed(label, 'before the call started');
    try {
      return await this.transport.post(body, authorization, { timeoutMs, maxAnswerBytes, ...(notAfter !== undefined ? { notAfter } : {}) });
    } catch (thrown) {
      if (thrown instanceof AnswerTooLarge) throw this.tooLarge(label, thrown.message);
      if (thrown instanceof DeadlineReached) throw this.deadlinePassed(label, 'when its connection was ready');
      const notWritten = thrown instanceof RequestNotWritten;
      const error = notWritten ? thrown.cause : thrown;
      const failure = classifyNetworkFailure(error);
      let what = `connection failed (${failure.detail})`;
      if (failure.timedOut) what = notWritten ? `no connection within ${timeoutMs} ms` : `no answer within ${timeoutMs} ms`;
      if (failure.notSent || notWritten || options.idempotent) {
        throw transportError('node_unreachable', `bitcoind ${label} at ${this.endpoint}: ${what}`, { retryable: true, cause: error });
      }
      // The request may have reached the node and been carried out; only reconciliation can tell.
      throw transportError(
        'outcome_unknown',
        `bitcoind ${label} at ${this.endpoint}: ${what}; the call may or may not have been carried out`,
        { retryable: false, cause: error },
      );
    }
  }

  /** Extract the result of one JSON-RPC response object, or throw its error. */
  private readResponse(method: string, id: number | null, status: number, value: unknown): unknown {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.garbage(method, `HTTP ${status} with a JSON body that is not a JSON-RPC response`);
    }
    const response = value as { result?: unknown; error?: unknown; id?: unknown };
    if (response.error !== undefined && response.error !== null) {
      const error = response.error as { code?: unknown; message?: unknown };
      const code = typeof error === 'object' ? jsonInteger(error.code) : undefined;
      if (code === undefined) throw this.garbage(method, `HTTP ${status} with a malformed JSON-RPC error`);
      const message = typeof error.message === 'string' ? error.message : '';
      throw new RpcError(method, code, message, this.endpoint);
    }
    if (!('result' in response)) throw this.garbage(method, `HTTP ${status} with neither result nor error`);
    if (status !== 200) throw this.garbage(method, `HTTP ${status} with a result`);
    if (id !== null && responseId(response) !== id) throw this.garbage(method, 'answer to another request (id mismatch)');
    return response.result;
  }

  /** A body that is not JSON: bitcoind's overload message, a proxy's page, or nonsense. */
  private nonJson(label: string, status: number, text: string): BackendError {
    if (/work queue depth exceeded/i.test(text)) {
      // Refused before it was queued: nothing was run, whatever the method.
      return transportError('node_busy', `bitcoind ${label} at ${this.endpoint}: node busy (work queue depth exceeded)`, {
        retryable: true,
      });
    }
    if (status === 404) {
      return transportError(
        'endpoint_not_found',
        `bitcoind ${label} at ${this.endpoint}: HTTP 404 (wrong URL, or a node without /wallet/ endpoints?)`,
        { retryable: false },
      );
    }
    return this.garbage(label, `HTTP ${status} with a body that is not JSON (${describeBody(text)})`);
  }

  private garbage(label: string, detail: string): BackendError {
    return transportError('garbage', `bitcoind ${label} at ${this.endpoint}: unusable answer: ${detail}`, { retryable: false });
  }

  /**
   * The answer passed the size cap and was abandoned unread. Not retryable: the same call would
   * get the same answer. The node did carry the call out, so for a send this proves nothing.
   */
  private tooLarge(label: string, detail: string): BackendError {
    const cap = this.options.maxAnswerBytes ?? DEFAULTS.backend.bitcoind.maxAnswerBytes;
    return transportError(
      'answer_too_large',
      `bitcoind ${label} at ${this.endpoint}: answer larger than max_answer_bytes (${cap}): ${detail}`,
      {
        retryable: false,
      },
    );
  }

  /** The deadline passed before the request was written: nothing reached the node. */
  private deadlinePassed(label: string, when: string): BackendError {
    return transportError('deadline_passed', `bitcoind ${label} at ${this.endpoint}: not sent, its deadline had passed ${when}`, {
      retryable: true,
    });
  }
}

/** Limits of one HTTP exchange. */
interface ExchangeLimits {
  readonly timeoutMs: number;
  readonly maxAnswerBytes: number;
  /** See `CallOptions.notAfter`. */
  readonly notAfter?: number;
}

/** The answer passed `maxAnswerBytes`, declared or counted; the request was abandoned. */
class AnswerTooLarge extends Error {}

/** `notAfter` had passed when the connection was ready; nothing was written. */
class DeadlineReached extends Error {}

/** The exchange failed (`cause`) before the request was handed to the socket: it never left. */
class RequestNotWritten extends Error {
  declare readonly cause: unknown;
}

/** Agents shared by keep-alive clients; other clients use a fresh connection per request. */
const keepAliveAgents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/**
 * POST over `node:http`/`node:https`. Not `fetch`: its process-wide connection pool cannot be
 * bypassed, and a pooled connection that the node closed meanwhile fails a request after it was
 * written, which for a send means an unknown outcome although nothing reached the node. Here a
 * request without keep-alive always gets a connection of its own, so "connection refused" reliably
 * means "not sent".
 */
class HttpTransport {
  private readonly url: URL;
  private readonly keepAlive: boolean;

  constructor(endpoint: string, keepAlive: boolean) {
    this.url = new URL(endpoint);
    this.keepAlive = keepAlive;
  }

  /**
   * POST `body` and read the answer within `limits`. Rejects with `AnswerTooLarge` or
   * `DeadlineReached`, with `RequestNotWritten` around any failure that came before the request
   * was written, and with the plain network error otherwise.
   */
  post(body: string, authorization: string, limits: ExchangeLimits): Promise<{ status: number; text: string }> {
    const https = this.url.protocol === 'https:';
    const { timeoutMs, maxAnswerBytes, notAfter } = limits;
    return new Promise((resolve, reject) => {
      let settled = false;
      let written = false;
      const settle = (error: Error | undefined, result?: { status: number; text: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(written || error instanceof DeadlineReached ? error : new RequestNotWritten(error.message, { cause: error }));
        else resolve(result!);
      };
      /** Settle with `error` and drop the connection (and whatever it still carries). */
      const abandon = (error: Error): void => {
        settle(error);
        request.destroy();
      };
      const request = (https ? httpsRequest : httpRequest)(
        this.url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization,
            connection: this.keepAlive ? 'keep-alive' : 'close',
          },
          agent: this.keepAlive ? (https ? keepAliveAgents.https : keepAliveAgents.http) : false,
        },
        (response) => {
          // bitcoind declares the length of its answers: a declared excess is refused unread.
          const declared = Number(response.headers['content-length']);
          if (Number.isFinite(declared) && declared > maxAnswerBytes) {
            abandon(new AnswerTooLarge(`the node announced ${declared} bytes`));
            return;
          }
          const chunks: Buffer[] = [];
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            if (settled) return;
            received += chunk.length;
            if (received > maxAnswerBytes) {
              abandon(new AnswerTooLarge(`more than ${maxAnswerBytes} bytes arrived`));
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', (error) => settle(error));
          response.on('close', () => {
            if (!response.complete) settle(Object.assign(new Error('connection closed during the answer'), { code: 'ECONNRESET' }));
          });
          response.on('end', () => {
            let text: string;
            try {
              text = Buffer.concat(chunks, received).toString('utf8');
            } catch (error) {
              // ERR_STRING_TOO_LONG: a cap configured beyond V8's string limit. Thrown from an
              // event handler it would end the process; here it is the caller's typed error.
              settle(new AnswerTooLarge(`${received} bytes do not fit in a string (${(error as Error).message})`));
              return;
            }
            settle(undefined, { status: response.statusCode ?? 0, text });
          });
        },
      );
      // The limit covers the whole exchange: connecting, and a node that stalls in the middle of its answer.
      const timer = setTimeout(() => {
        const error = new Error(`no answer within ${timeoutMs} ms`);
        error.name = 'TimeoutError';
        request.destroy(error);
        settle(error);
      }, timeoutMs);
      request.on('error', (error) => settle(error));
      // Nothing leaves before `end`: node:http sends the headers with the first write. Waiting for
      // the connection makes "not written" exact, and puts the deadline check as late as it can be.
      const write = (): void => {
        if (settled) return;
        if (notAfter !== undefined && performance.now() > notAfter) {
          abandon(new DeadlineReached('deadline passed before the request was written'));
          return;
        }
        written = true;
        request.end(body);
      };
      request.on('socket', (socket) => {
        if (socket.connecting) socket.once(https ? 'secureConnect' : 'connect', write);
        else write(); // a kept-alive connection, already open
      });
    });
  }
}

/**
 * The Authorization header, from a password or from the cookie file. Shared by the clients of
 * one node (`forWallet`) so that a cookie re-read after a node restart serves all of them.
 */
export class Credentials {
  private readonly auth: BitcoindAuth;
  private cookie: string | undefined;

  constructor(auth: BitcoindAuth) {
    this.auth = auth;
  }

  /** The `Authorization` header value. */
  async header(label: string, endpoint: string): Promise<string> {
    if (this.auth.kind === 'password') return basic(`${this.auth.username}:${this.auth.password}`);
    this.cookie ??= await this.readCookie(label, endpoint);
    return basic(this.cookie);
  }

  /** After a 401: read the cookie again; true when it changed (so a retry can succeed). */
  async refresh(label: string, endpoint: string): Promise<boolean> {
    if (this.auth.kind !== 'cookie') return false;
    const previous = this.cookie;
    this.cookie = await this.readCookie(label, endpoint);
    return this.cookie !== previous;
  }

  private async readCookie(label: string, endpoint: string): Promise<string> {
    if (this.auth.kind !== 'cookie') throw new Error('not a cookie credential');
    let text: string;
    try {
      text = await readFile(this.auth.cookieFile, 'utf8');
    } catch (error) {
      // The node deletes its cookie when it stops and writes a new one when it starts: a missing
      // cookie almost always means the node is down, which is worth retrying.
      throw transportError(
        'node_unreachable',
        `bitcoind ${label} at ${endpoint}: cannot read the cookie file ${this.auth.cookieFile} (${(error as { code?: string }).code ?? 'error'}); is the node running?`,
        { retryable: true },
      );
    }
    const cookie = text.trim();
    if (!cookie.includes(':')) {
      throw transportError('unauthorized', `bitcoind ${label} at ${endpoint}: the cookie file ${this.auth.cookieFile} is malformed`, {
        retryable: false,
      });
    }
    return cookie;
  }
}

function basic(userColonPassword: string): string {
  return `Basic ${Buffer.from(userColonPassword, 'utf8').toString('base64')}`;
}

function responseId(item: unknown): number | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  return jsonInteger((item as { id?: unknown }).id);
}

function jsonInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'object' && value !== null && 'toInteger' in value) {
    return (value as { toInteger(): number | undefined }).toInteger();
  }
  return undefined;
}

/** A short, printable excerpt of an unexpected body, for the error message. */
function describeBody(text: string): string {
  if (text.trim() === '') return 'empty';
  const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 80);
  return JSON.stringify(excerpt);
}

/** V8's refusal to build a string beyond its maximum length. */
function isStringTooLong(error: unknown): boolean {
  return (
    (error as { code?: unknown })?.code === 'ERR_STRING_TOO_LONG' ||
    (error instanceof RangeError && /invalid string length/i.test(error.message))
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
