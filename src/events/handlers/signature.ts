/**
 * Webhook signatures: `cryptoassets-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
 * HMAC key is the shared secret and the signed text is `<t>.<raw body>`. The timestamp is inside
 * the signed text so a captured request cannot be replayed later with a fresh timestamp, and the
 * receiver refuses timestamps outside its tolerance window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header that carries the signature (lowercase, as Node reports headers). */
export const SIGNATURE_HEADER = 'cryptoassets-signature';
/** How far a signature's timestamp may be from the receiver's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS_DEFAULT = 300;

/** Why a signature was refused. */
export type SignatureFailure = 'missing' | 'malformed' | 'mismatch' | 'expired';

/** The outcome of {@link verifySignature}. */
export type SignatureCheck = { readonly ok: true; readonly timestamp: number } | { readonly ok: false; readonly reason: SignatureFailure };

/** Options of {@link verifySignature}. */
export interface VerifyOptions {
  /** Largest accepted distance between the signature's timestamp and now. Default 300. */
  toleranceSeconds?: number;
  /** The current time in Unix seconds; default the system clock. */
  now?: number;
}

/** HMAC-SHA256 of `<timestamp>.<body>` under `secret`, as raw bytes. */
function digest(secret: string, body: string | Uint8Array, timestampSeconds: number): Buffer {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest();
}

/**
 * The value of the `cryptoassets-signature` header for `body` signed at `timestampSeconds`.
 * `body` must be the exact bytes sent: a re-serialised object will not verify.
 */
export function signPayload(secret: string, body: string | Uint8Array, timestampSeconds: number): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(`timestampSeconds must be a non-negative integer, got ${timestampSeconds}`);
  }
  return `t=${timestampSeconds},v1=${digest(secret, body, timestampSeconds).toString('hex')}`;
}

/** Parsed header: one timestamp and every `v1` candidate (more than one during a secret rotation). */
function parseHeader(header: string): { timestamp: number; candidates: Buffer[] } | null {
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) return null;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return null;
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return null;
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other keys are ignored so that a later scheme (v2=…) can be sent next to v1.
  }
  return timestamp === undefined || candidates.length === 0 ? null : { timestamp, candidates };
}

/**
 * Checks a `cryptoassets-signature` header against the raw request body. The comparison takes the
 * same time whatever the bytes (`timingSafeEqual`), so the answer leaks nothing about the secret.
 * A correct signature with a timestamp outside the tolerance is `expired` (a replay, or a clock
 * that is off).
 */
export function verifySignature(
  secret: string,
  body: string | Uint8Array,
  header: string | readonly string[] | null | undefined,
  options: VerifyOptions = {},
): SignatureCheck {
  // Node gives an array only for headers it knows to repeat; be safe if a framework does too.
  const text = Array.isArray(header) ? header.join(',') : (header as string | null | undefined);
  if (text === undefined || text === null || text.trim() === '') return { ok: false, reason: 'missing' };
  const parsed = parseHeader(text);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const expected = digest(secret, body, parsed.timestamp);
  const matches = parsed.candidates.some((candidate) => timingSafeEqual(candidate, expected));
  if (!matches) return { ok: false, reason: 'mismatch' };
  const tolerance = options.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS_DEFAULT;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.timestamp) > tolerance) return { ok: false, reason: 'expired' };
  return { ok: true, timestamp: parsed.timestamp };
}
