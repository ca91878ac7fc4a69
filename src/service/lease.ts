/**
 * A lease in the database that only one helper service holds at a time, so that two services on
 * the same database never both broadcast or poll. The holder renews it well before it expires;
 * a service that dies stops renewing and another may take over after the lease runs out.
 * (Broadcasting is safe without it — each withdrawal can join only one broadcast — the lease
 * keeps the second service from doing the same work and from reconciling a broadcast the first
 * one has in flight.)
 */
import { readlinkSync } from 'node:fs';
import type { Database } from '../store/database.js';
import { RETRY_POLICY_DEFAULT, runManagedTransaction } from '../store/managed-transaction.js';

export interface LeaseState {
  readonly holder: string;
  readonly expiresAt: Date;
}

/**
 * Take or renew the lease `name` for `holder` until now + ttl. Succeeds when nobody holds it, the
 * holder is us, or the previous holder let it expire.
 * @returns undefined when acquired; the current holder's lease when someone else holds it.
 */
export async function acquireLease(
  database: Database,
  name: string,
  holder: string,
  ttlMs: number,
  holderIsGone: (holder: string) => boolean = () => false,
): Promise<LeaseState | undefined> {
  return runManagedTransaction(
    database,
    async (tx) => {
      const now = Date.now();
      const row = await tx.get<{ holder: string; expires_at_ms: unknown }>(
        'SELECT holder, expires_at_ms FROM cryptoassets_lease WHERE name = ?',
        [name],
      );
      const expiresAt = now + ttlMs;
      if (!row) {
        await tx.run('INSERT INTO cryptoassets_lease (name, holder, acquired_at, expires_at_ms) VALUES (?, ?, ?, ?)', [
          name,
          holder,
          new Date(now).toISOString(),
          expiresAt,
        ]);
        return undefined;
      }
      const heldUntil = Number(row.expires_at_ms);
      if (row.holder !== holder && heldUntil > now && !holderIsGone(row.holder)) {
        return { holder: row.holder, expiresAt: new Date(heldUntil) };
      }
      const acquiredAt = row.holder === holder ? undefined : new Date(now).toISOString();
      await tx.run(
        `UPDATE cryptoassets_lease SET holder = ?, expires_at_ms = ?${acquiredAt ? ', acquired_at = ?' : ''} WHERE name = ?`,
        acquiredAt ? [holder, expiresAt, acquiredAt, name] : [holder, expiresAt, name],
      );
      return undefined;
    },
    { mode: 'write', policy: RETRY_POLICY_DEFAULT },
  );
}

/** Give the lease up, if we hold it, so a standby service can take over at once. */
export async function releaseLease(database: Database, name: string, holder: string): Promise<void> {
  await runManagedTransaction(
    database,
    (tx) => tx.run('DELETE FROM cryptoassets_lease WHERE name = ? AND holder = ?', [name, holder]),
    { mode: 'write', policy: RETRY_POLICY_DEFAULT },
  );
}

/**
 * The id a service holds the lease under: `host:pid:nonce:pidns`. The pid namespace makes the
 * "holder is gone" test below safe where containers share a hostname but not their pids.
 */
export function instanceId(host: string, nonce: string): string {
  return `${host}:${process.pid}:${nonce}:${pidNamespace() ?? 'unknown'}`;
}

function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * True when `holder` names a process on this host, in this pid namespace, that no longer
 * exists: a service killed without releasing its lease. Then a restarted service need not wait
 * for the lease to expire. Anything uncertain (another host or namespace, no namespace known, a
 * reused pid) answers false, which only means waiting for the lease to expire.
 */
export function holderProcessIsGone(holder: string, thisHost: string): boolean {
  const [host, pidText, , namespace] = holder.split(':');
  const pid = Number(pidText);
  const ours = pidNamespace();
  if (host !== thisHost || ours === undefined || namespace !== ours) return false;
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
