/**
 * Structural validation of the configuration as written (snake_case keys): types, ranges,
 * allowed choices and unknown keys. Rules that need several keys at once (a coin's network must
 * exist, credentials come in pairs, …) and the conversion to the camelCase Config live in
 * `build.ts`, which only runs once this schema has accepted the input.
 *
 * Strict objects everywhere: a misspelt key is an error naming it, never a silently ignored
 * setting. Defaults are not applied here but in `build.ts` from DEFAULTS, so that `undefined`
 * still means "not written" when cross-key rules are checked.
 */
import * as z from 'zod';
import { COIN_CODE_PATTERN, DECIMALS_MAX, INT64_MAX } from '../domain/coins.js';
import { describeValue } from './issues.js';

type Ctx = z.core.$RefinementCtx<unknown>;

function fail(ctx: Ctx, value: unknown, message: string): never {
  ctx.issues.push({ code: 'custom', message, input: value });
  return z.NEVER;
}

function expected(ctx: Ctx, value: unknown, what: string): never {
  return fail(ctx, value, value === undefined ? 'required key is missing' : `expected ${what}, got ${describeValue(value)}`);
}

/**
 * Integers arrive in three forms: bigint from YAML (parsed with `intAsBigInt` so that large
 * amounts stay exact), number from object input, and decimal text produced by `${VAR}`
 * interpolation (environment variables are always text). All are accepted.
 */
function toBigInteger(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  // The length bound keeps BigInt() cheap on absurd input; no range here needs more digits.
  if (typeof value === 'string' && /^-?\d{1,30}$/.test(value)) return BigInt(value);
  return undefined;
}

function integerIn(ctx: Ctx, value: unknown, min: bigint, max: bigint): bigint {
  const n = toBigInteger(value);
  if (n === undefined) return expected(ctx, value, 'an integer');
  if (n < min || n > max) return fail(ctx, value, `must be between ${min} and ${max}`);
  return n;
}

/** An integer in `min..max`, as a number. */
export function integer(min: number, max: number) {
  return z.unknown().transform((value, ctx) => Number(integerIn(ctx, value, BigInt(min), BigInt(max))));
}

/** A non-negative amount of base units that fits a signed 64-bit column, as a bigint. */
export function baseUnits() {
  return z.unknown().transform((value, ctx) => integerIn(ctx, value, 0n, INT64_MAX));
}

/** TCP port; 0 lets the operating system pick a free one. */
export const port = () => integer(0, 65535);

const SECONDS_TEXT = /^\d{1,9}(?:\.\d{1,9})?$/;
const ONE_DAY_SECONDS = 86_400;

/**
 * A period written in seconds (fractions allowed, e.g. `0.5` in tests), returned in whole
 * milliseconds because timers take milliseconds.
 */
export function periodMs() {
  return z.unknown().transform((value, ctx) => {
    let seconds: number | undefined;
    if (typeof value === 'number') seconds = value;
    else if (typeof value === 'bigint') seconds = Number(value);
    else if (typeof value === 'string' && SECONDS_TEXT.test(value)) seconds = Number(value);
    if (seconds === undefined || !Number.isFinite(seconds)) return expected(ctx, value, 'a number of seconds');
    if (seconds <= 0) return fail(ctx, value, 'must be greater than 0 seconds');
    if (seconds > ONE_DAY_SECONDS) return fail(ctx, value, `must be at most ${ONE_DAY_SECONDS} seconds`);
    const ms = Math.round(seconds * 1000);
    if (ms < 1) return fail(ctx, value, 'must be at least 0.001 seconds');
    return ms;
  });
}

/** `true`/`false`, also as text so that `${VAR}` can supply it. */
export function flag() {
  return z.unknown().transform((value, ctx) => {
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    return expected(ctx, value, 'true or false');
  });
}

/**
 * An amount of whole coins, kept as decimal text until the coin's decimals are known (in
 * build.ts). Non-integral numbers are refused: YAML already turned them into floating point,
 * which may have lost digits, so they must be written as quoted text.
 */
export function coinAmount() {
  return z.unknown().transform((value, ctx) => {
    if (typeof value === 'string') return value;
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'number') return fail(ctx, value, 'write fractional amounts as quoted decimal text, e.g. "0.5"');
    return expected(ctx, value, 'decimal text or an integer');
  });
}

/** Non-empty text. */
export const text = () => z.string().min(1);

/** A block explorer's transaction page: an http(s) URL with `{txid}` where the txid goes. */
export const explorerUrl = () =>
  text().refine((value) => /^https?:\/\/[^\s"'<>]+$/.test(value) && value.includes('{txid}'), 'expected an http(s) URL containing {txid}');

/** A host name or IP address to listen on or connect to. */
export const host = () => text().regex(/^[^\s/]+$/, 'expected a host name or IP address');

function hasProtocol(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** An `http://` or `https://` URL. */
export const httpUrl = () => text().refine((value) => hasProtocol(value, ['http:', 'https:']), 'expected an http:// or https:// URL');

/** A `ws://` or `wss://` URL. */
export const webSocketUrl = () => text().refine((value) => hasProtocol(value, ['ws:', 'wss:']), 'expected a ws:// or wss:// URL');

/** A `redis://` or `rediss://` URL. */
export const redisUrl = () => text().refine((value) => hasProtocol(value, ['redis:', 'rediss:']), 'expected a redis:// or rediss:// URL');

const coinCode = z.string().regex(COIN_CODE_PATTERN, 'coin codes are 2 to 16 lowercase letters or digits, starting with a letter');

const networkName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'network names are up to 32 lowercase letters, digits, _ or -, starting with a letter');

const eventHandlerName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'handler names are up to 64 letters, digits, _ or -, starting with a letter');

/** A map that must not be empty; zod's record has no minimum size of its own. */
function nonEmpty<T extends z.ZodType<Record<string, unknown>>>(schema: T, message: string) {
  return schema.refine((value) => Object.keys(value).length > 0, message);
}

/** Version bytes and segwit prefix of one network of a custom coin. */
export const networkSchema = z.strictObject({
  p2pkh: integer(0, 255),
  p2sh: z.array(integer(0, 255)).min(1),
  bech32: z
    .string()
    .regex(/^[a-z0-9]{1,83}$/, 'expected a bech32 prefix of up to 83 lowercase letters or digits')
    .optional(),
});

const memoryBackend = z.strictObject({
  type: z.literal('memory'),
  fee_per_output: baseUnits().optional(),
  initial_blocks: integer(0, 1_000_000).optional(),
});

const timeoutMs = () => integer(1, 3_600_000);

/**
 * Largest RPC answer the bitcoind client reads, in bytes. At least 1 KiB; at most 512 MiB, about
 * the longest string V8 can hold (an answer must become one string before it is parsed).
 */
const maxAnswerBytes = () => integer(1024, 512 * 1024 * 1024);

const bitcoindBackend = z.strictObject({
  type: z.literal('bitcoind'),
  url: httpUrl(),
  username: text().optional(),
  password: text().optional(),
  cookie_file: text().optional(),
  wallet: text().optional(),
  timeout_ms: timeoutMs().optional(),
  max_answer_bytes: maxAnswerBytes().optional(),
  address_type: z.enum(['legacy', 'p2sh-segwit', 'bech32']).optional(),
  passphrase: text().optional(),
});

const blockioBackend = z.strictObject({
  type: z.literal('blockio'),
  api_key: text(),
  pin: text().optional(),
  api_url: httpUrl().optional(),
  timeout_ms: timeoutMs().optional(),
  max_fee: baseUnits().optional(),
});

/** The node or service behind a coin, chosen by `type`. */
export const backendSchema = z.discriminatedUnion('type', [memoryBackend, bitcoindBackend, blockioBackend]);

/**
 * The secret part of the block.io webhook path. Long enough not to be guessed, and only characters
 * that need no escaping in a URL, so the path block.io posts to is exactly the one we compare.
 */
const pathSecret = () =>
  z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'expected 16 to 128 letters, digits, _ or - (e.g. from openssl rand -hex 16)');

/** A block.io network name such as LTC or DOGETEST. */
const blockioNetwork = () => z.string().regex(/^[A-Z][A-Z0-9]{1,15}$/, 'expected a block.io network name such as BTC or LTCTEST');

/** The walletnotify channel of a coin, chosen by `type`. */
export const walletNotifySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('http'), host: host().optional(), port: port().optional() }),
  z.strictObject({ type: z.literal('pipe'), path: text() }),
  z.strictObject({ type: z.literal('redis'), url: redisUrl().optional(), channel: text() }),
  z.strictObject({
    type: z.literal('blockio-webhook'),
    path_secret: pathSecret(),
    host: host().optional(),
    port: port().optional(),
    max_body_bytes: integer(1024, 16 * 1024 * 1024).optional(),
    manage: flag().optional(),
    public_url: httpUrl().optional(),
  }),
  z.strictObject({
    type: z.literal('blockio-websocket'),
    api_key: text(),
    url: webSocketUrl().optional(),
    network: blockioNetwork().optional(),
    keepalive_period: periodMs().optional(),
    missed_keepalives: integer(1, 100).optional(),
  }),
]);

/**
 * One coin. The custom-coin keys are optional here because whether they are required or
 * forbidden depends on the coin code (the map key), which build.ts checks.
 */
export const coinSchema = z.strictObject({
  network: networkName,
  confirmation_threshold: integer(1, 1000).optional(),
  tracking_limit: integer(1, 10_000).optional(),
  minimum_withdrawal: coinAmount().optional(),
  backend: backendSchema,
  walletnotify: walletNotifySchema.optional(),
  name: text().max(64).optional(),
  decimals: integer(0, DECIMALS_MAX).optional(),
  max_money: coinAmount().optional(),
  networks: nonEmpty(z.record(networkName, networkSchema), 'at least one network is required').optional(),
});

const attempts = () => integer(1, 1000);

/** An event handler, chosen by `type`. */
export const eventHandlerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('webhook'),
    url: httpUrl(),
    secret: text().optional(),
    timeout_ms: timeoutMs().optional(),
    max_attempts: attempts().optional(),
  }),
  z.strictObject({
    type: z.literal('in_process'),
    module: text(),
    export: z
      .string()
      .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'expected the name of an exported function')
      .optional(),
  }),
  z.strictObject({
    type: z.literal('script'),
    command: text(),
    timeout_ms: timeoutMs().optional(),
    max_attempts: attempts().optional(),
  }),
]);

/** The whole file. */
export const configSchema = z.strictObject({
  database: z.strictObject({
    url: text(),
    transaction_retries: integer(0, 1000).optional(),
    pool_size: integer(1, 200).optional(),
    sqlite_synchronous: z.enum(['full', 'normal']).optional(),
    connect_timeout: periodMs().optional(),
  }),
  coins: nonEmpty(z.record(coinCode, coinSchema), 'at least one coin is required'),
  events: z.record(eventHandlerName, eventHandlerSchema).optional(),
  status_server: z
    .strictObject({ enabled: flag().optional(), host: host().optional(), port: port().optional(), explorer_url: explorerUrl().optional() })
    .optional(),
  service: z
    .strictObject({
      broadcast_period: periodMs().optional(),
      poll_period: periodMs().optional(),
      event_retry_base: periodMs().optional(),
      resend_unprocessed_after: periodMs().optional(),
      resend_unprocessed: z.boolean().optional(),
      lease_ttl: periodMs().optional(),
      audit_period: periodMs().optional(),
      stuck_withdrawal_age: periodMs().optional(),
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    })
    .optional(),
});

/** The configuration as written, after structural validation (snake_case, defaults not applied). */
export type RawConfig = z.output<typeof configSchema>;
/** One coin entry as written. */
export type RawCoin = z.output<typeof coinSchema>;
