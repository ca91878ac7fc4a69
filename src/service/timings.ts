/**
 * The times the lease's safety rests on, derived from the configuration so that the service and
 * the operator commands (`resolve-broadcast`) use the same numbers.
 *
 * A send may start only while `renewal age + request time limit < lease TTL` (a margin kept):
 * then it reaches the node, or fails, before the lease can have expired and another service
 * taken over. A broadcast left open is not given up on (vetted, returned) before
 * `opened + TTL + request time limit`: by then every send of it that was ever started has
 * reached the node or never will.
 */
import type { Config } from '../config/types.js';
import type { NetworkTransaction } from '../ledger/records.js';
import { nowMsSql } from '../store/clock.js';
import type { Database } from '../store/database.js';
import { readLease } from './lease.js';

/** Name of the lease the broadcasting, polling service holds. */
export const SERVICE_LEASE = 'helper-service';

/** Shortest lease: renewals every third of it must survive a slow database round. */
export const LEASE_TTL_MIN_MS = 30_000;
/** Part of the TTL kept free after the last moment a send may start. */
const SEND_MARGIN_FRACTION = 0.1;

/** The time limit of one backend request of the coin (0 for the in-memory chain). */
export function requestTimeoutMs(config: Config, coin: string): number {
  const backend = config.coins[coin]?.backend;
  return backend && 'timeoutMs' in backend ? backend.timeoutMs : 0;
}

/** The lease TTL: configured, or three times the longest request time limit (at least 30 s). */
export function leaseTtlMs(config: Config): number {
  if (config.service.leaseTtlMs !== null) return config.service.leaseTtlMs;
  const longest = Math.max(0, ...Object.keys(config.coins).map((coin) => requestTimeoutMs(config, coin)));
  return Math.max(LEASE_TTL_MIN_MS, 3 * longest);
}

/**
 * The `performance.now()` time after which no send of the coin may start, for a lease renewed
 * at `renewedAt` (measured before the renewal was asked for, so the true expiry is later).
 */
export function sendDeadline(renewedAt: number, ttlMs: number, timeoutMs: number): number {
  return renewedAt + ttlMs - timeoutMs - ttlMs * SEND_MARGIN_FRACTION;
}

/** Why a configuration's lease could never allow a send (`[key, reason]`), or null when it can. */
export function leaseProblem(ttlMs: number, config: Config): [string, string] | null {
  for (const coin of Object.keys(config.coins)) {
    const timeout = requestTimeoutMs(config, coin);
    // Twice the time limit leaves a window for sends after every renewal (every third of the TTL).
    if (ttlMs < 2 * timeout) {
      return ['service.lease_ttl', `${ttlMs} ms must be at least twice the ${coin} backend timeout_ms (${timeout} ms)`];
    }
  }
  return null;
}

/** True when a broadcast opened at `openedAtMs` (database clock) can no longer be in flight. */
export function openBroadcastSettled(nowMs: number, openedAtMs: number | null, ttlMs: number, timeoutMs: number): boolean {
  return openedAtMs === null || nowMs > openedAtMs + ttlMs + timeoutMs;
}

/**
 * The predicate `reconcileBroadcasts` and `resolveBroadcast` take: whether no send of an open
 * broadcast can still be on its way to the node, by the database's clock. Beyond the time rule,
 * a broadcast opened under an earlier lease generation waits until that holder's lease has been
 * over for longer than the request time limit.
 */
export function broadcastSettledCheck(
  database: Database,
  ttlMs: number,
  timeoutMs: number,
): (broadcast: NetworkTransaction) => Promise<boolean> {
  return async (broadcast) => {
    const lease = await readLease(database, SERVICE_LEASE);
    const nowMs = lease?.nowMs ?? (await databaseNowMs(database));
    if (!openBroadcastSettled(nowMs, broadcast.openedAtMs, ttlMs, timeoutMs)) return false;
    if (lease && broadcast.leaseGeneration !== null && broadcast.leaseGeneration < lease.generation) {
      return lease.previousExpiredAtMs === null || nowMs > lease.previousExpiredAtMs + timeoutMs;
    }
    return true;
  };
}

async function databaseNowMs(database: Database): Promise<number> {
  return database.transaction('read', async (tx) =>
    Number((await tx.get<{ now_ms: unknown }>(`SELECT ${nowMsSql(database.engine)} AS now_ms`))!.now_ms),
  );
}
