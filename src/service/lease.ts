/**
 * A fenced lease in the database that only one helper service holds at a time, so that two
 * services on the same database never both broadcast, poll or reconcile.
 *
 * - Time is the database's clock (`store/clock.ts`): a machine whose clock runs ahead can neither
 *   take a live lease nor make its own last longer.
 * - Every change of holder (and every re-take of a lease that had expired) increments the
 *   lease's generation. Every write of the service checks, in its own transaction, that its
 *   generation still holds an unexpired lease (`checkLease`) and aborts otherwise: a service that
 *   was paused, lost the lease and resumed writes nothing.
 * - `previous_expired_at_ms` records, at each change of holder, when the previous holder's lease
 *   ended (or the moment its process was found gone): broadcasts an earlier holder left open are
 *   not reconciled before its last send could have reached the node.
 * - A dead holder's lease is taken over before it expires only when the holder provably ran on
 *   this very machine (same boot id and pid namespace) and its process is gone.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type { Database, SqlExecutor } from '../store/database.js';
import { nowMsSql } from '../store/clock.js';
import { RETRY_POLICY_DEFAULT, runManagedTransaction } from '../store/managed-transaction.js';
import { LeaseLost } from '../domain/errors.js';

/** Someone else's lease. */
export interface LeaseState {
  readonly holder: string;
  readonly expiresAt: Date;
  readonly generation: number;
}

/** Our lease after taking or renewing it. */
export interface LeaseGrant {
  readonly generation: number;
  /** Expiry by the database's clock. */
  readonly expiresAtMs: number;
  /** The database's clock at the renewal. */
  readonly nowMs: number;
  /** When the previous holder's lease ended, by the database's clock (null: there was none). */
  readonly previousExpiredAtMs: number | null;
}

export type LeaseOutcome = { readonly held: LeaseGrant } | { readonly other: LeaseState };

interface LeaseRow extends Record<string, unknown> {
  holder: string;
  generation: unknown;
  expires_at_ms: unknown;
  previous_expired_at_ms: unknown;
  now_ms: unknown;
}

/**
 * Take or renew the lease `name` for `holder` until the database's now + ttl. Succeeds when
 * nobody holds it, the holder is us, or the previous holder let it expire (or is provably gone).
 */
export async function acquireLease(
  database: Database,
  name: string,
  holder: string,
  ttlMs: number,
  holderIsGone: (holder: string) => boolean = () => false,
): Promise<LeaseOutcome> {
  const now = nowMsSql(database.engine);
  return runManagedTransaction(
    database,
    async (tx) => {
      const row = await tx.get<LeaseRow>(
        `SELECT holder, generation, expires_at_ms, previous_expired_at_ms, ${now} AS now_ms FROM cryptoassets_lease WHERE name = ?`,
        [name],
      );
      if (!row) {
        const nowRow = await tx.get<{ now_ms: unknown }>(`SELECT ${now} AS now_ms`);
        const nowMs = Number(nowRow!.now_ms);
        await tx.run(
          `INSERT INTO cryptoassets_lease (name, holder, acquired_at, expires_at_ms, generation, previous_expired_at_ms) VALUES (?, ?, ?, ?, 1, NULL)`,
          [name, holder, new Date(nowMs).toISOString(), nowMs + ttlMs],
        );
        return { held: { generation: 1, expiresAtMs: nowMs + ttlMs, nowMs, previousExpiredAtMs: null } };
      }
      const nowMs = Number(row.now_ms);
      const heldUntil = Number(row.expires_at_ms);
      const generation = Number(row.generation);
      const live = heldUntil > nowMs;
      if (row.holder === holder && live) {
        await tx.run(`UPDATE cryptoassets_lease SET expires_at_ms = ? WHERE name = ? AND holder = ? AND generation = ?`, [
          nowMs + ttlMs,
          name,
          holder,
          generation,
        ]);
        const previous = row.previous_expired_at_ms === null ? null : Number(row.previous_expired_at_ms);
        return { held: { generation, expiresAtMs: nowMs + ttlMs, nowMs, previousExpiredAtMs: previous } };
      }
      if (row.holder !== holder && live && !holderIsGone(row.holder)) {
        return { other: { holder: row.holder, expiresAt: new Date(heldUntil), generation } };
      }
      // A change of holder, or our own lease re-taken after it expired: a new generation either
      // way, so that anything still running under the old one is fenced off.
      const endedAt = Math.min(heldUntil, nowMs);
      await tx.run(
        `UPDATE cryptoassets_lease SET holder = ?, generation = ?, expires_at_ms = ?, acquired_at = ?, previous_expired_at_ms = ?
         WHERE name = ? AND generation = ?`,
        [holder, generation + 1, nowMs + ttlMs, new Date(nowMs).toISOString(), endedAt, name, generation],
      );
      return { held: { generation: generation + 1, expiresAtMs: nowMs + ttlMs, nowMs, previousExpiredAtMs: endedAt } };
    },
    { mode: 'write', policy: RETRY_POLICY_DEFAULT },
  );
}

/**
 * The fence: throws `LeaseLost` unless `generation` of `holder` still holds an unexpired lease
 * `name` by the database's clock. Runs inside the caller's write transaction, so the write and
 * the check commit together (a concurrent takeover makes one of the two conflict and re-run).
 */
export async function checkLease(
  tx: SqlExecutor,
  engine: Database['engine'],
  name: string,
  holder: string,
  generation: number,
): Promise<void> {
  const row = await tx.get(
    `SELECT 1 AS ok FROM cryptoassets_lease WHERE name = ? AND holder = ? AND generation = ? AND expires_at_ms > ${nowMsSql(engine)}`,
    [name, holder, generation],
  );
  if (!row) throw new LeaseLost(`the service lease (generation ${generation}) is no longer held; nothing written`);
}

/** The lease row as it is, with the database's clock (for reconciliation and the status page). */
export async function readLease(
  database: Database,
  name: string,
): Promise<(LeaseState & { readonly nowMs: number; readonly previousExpiredAtMs: number | null }) | undefined> {
  return database.transaction('read', async (tx) => {
    const row = await tx.get<LeaseRow>(
      `SELECT holder, generation, expires_at_ms, previous_expired_at_ms, ${nowMsSql(database.engine)} AS now_ms FROM cryptoassets_lease WHERE name = ?`,
      [name],
    );
    if (!row) return undefined;
    return {
      holder: row.holder,
      generation: Number(row.generation),
      expiresAt: new Date(Number(row.expires_at_ms)),
      nowMs: Number(row.now_ms),
      previousExpiredAtMs: row.previous_expired_at_ms === null ? null : Number(row.previous_expired_at_ms),
    };
  });
}

/** Give the lease up, if we hold it, so a standby service can take over at once. */
export async function releaseLease(database: Database, name: string, holder: string): Promise<void> {
  await runManagedTransaction(
    database,
    // Expired now rather than deleted: the generation must keep growing across holders.
    (tx) =>
      tx.run(`UPDATE cryptoassets_lease SET expires_at_ms = ${nowMsSql(database.engine)} WHERE name = ? AND holder = ?`, [name, holder]),
    { mode: 'write', policy: RETRY_POLICY_DEFAULT },
  );
}

/**
 * The id a service holds the lease under: `host:pid:nonce:pidns:bootid`. The pid namespace and the
 * boot id make the "holder is gone" test below safe where containers or machines share a hostname.
 */
export function instanceId(host: string, nonce: string): string {
  return `${host}:${process.pid}:${nonce}:${pidNamespace() ?? 'unknown'}:${bootId() ?? 'unknown'}`;
}

function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/** Linux's random id of this boot of this machine: differs between machines and across reboots. */
function bootId(): string | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '');
    return /^[0-9a-f]{32}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `holder` names a process on this very machine (same host name, boot id and pid
 * namespace) that no longer exists: a service killed without releasing its lease. Then a
 * restarted service need not wait for the lease to expire. Anything uncertain (another machine or
 * namespace, no boot id known, a reused pid) answers false, which only means waiting for expiry.
 */
export function holderProcessIsGone(holder: string, thisHost: string): boolean {
  const [host, pidText, , namespace, boot] = holder.split(':');
  const pid = Number(pidText);
  const ourNamespace = pidNamespace();
  const ourBoot = bootId();
  if (host !== thisHost || ourNamespace === undefined || namespace !== ourNamespace) return false;
  if (ourBoot === undefined || boot !== ourBoot) return false;
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
