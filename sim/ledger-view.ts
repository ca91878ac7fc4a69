/**
 * What the auditor reads from the ledger, on its own connection, in one read transaction: the
 * credited deposits, every withdrawal and broadcast, the lease row; and the ledger check.
 */
import type { CryptoAssets } from '../src/app.js';
import type { LedgerCheck } from '../src/ledger/verify.js';
import { SERVICE_LEASE } from '../src/service/timings.js';
import { coinTables } from '../src/store/migrations.js';
import { depositKey } from './chain-model.js';

export interface WithdrawalRow {
  readonly id: number;
  readonly state: string;
  readonly amount: bigint;
  readonly address: string;
  /** The broadcast it is in (or was sent by); null while queued or refused. */
  readonly broadcastId: number | null;
}

export interface BroadcastRow {
  readonly id: number;
  readonly state: string;
  readonly txid: string | null;
  readonly comment: string | null;
  readonly fee: bigint | null;
}

export interface LeaseRow {
  readonly holder: string;
  readonly generation: number;
  readonly expiresAtMs: number;
}

export interface LedgerSnapshot {
  /** Credited deposits: (txid, address) → amount. */
  readonly credited: ReadonlyMap<string, bigint>;
  readonly withdrawals: ReadonlyMap<number, WithdrawalRow>;
  readonly broadcasts: ReadonlyMap<number, BroadcastRow>;
  readonly lease: LeaseRow | null;
  readonly check: LedgerCheck;
}

const T = coinTables('btc');

/** Read the ledger as it is now. */
export async function readLedger(app: CryptoAssets): Promise<LedgerSnapshot> {
  const rows = await app.database.transaction('read', async (tx) => ({
    credited: await tx.all<{ txid: string; address: string; amount: bigint }>(
      `SELECT n.txid, a.address, t.amount FROM ${T.transaction} t
       JOIN ${T.networkTransaction} n ON n.id = t.network_transaction_id
       JOIN ${T.address} a ON a.id = t.address_id
       WHERE t.type = 'deposit' AND t.state = 'credited'`,
    ),
    withdrawals: await tx.all<{ id: bigint; state: string; amount: bigint; address: string; network_transaction_id: bigint | null }>(
      `SELECT t.id, t.state, t.amount, a.address, t.network_transaction_id FROM ${T.transaction} t
       JOIN ${T.address} a ON a.id = t.address_id WHERE t.type = 'withdrawal' ORDER BY t.id`,
    ),
    broadcasts: await tx.all<{ id: bigint; state: string; txid: string | null; comment: string | null; fee: bigint | null }>(
      `SELECT id, state, txid, comment, fee FROM ${T.networkTransaction} WHERE transaction_type = 'broadcast' ORDER BY id`,
    ),
    lease: await tx.get<{ holder: string; generation: bigint; expires_at_ms: bigint }>(
      `SELECT holder, generation, expires_at_ms FROM cryptoassets_lease WHERE name = ?`,
      [SERVICE_LEASE],
    ),
  }));
  const credited = new Map<string, bigint>();
  for (const row of rows.credited) {
    const key = depositKey(row.txid, row.address);
    if (credited.has(key)) throw new Error(`the ledger holds two credited deposits for ${key}`);
    credited.set(key, BigInt(row.amount));
  }
  return {
    credited,
    withdrawals: new Map(
      rows.withdrawals.map((row) => [
        Number(row.id),
        {
          id: Number(row.id),
          state: row.state,
          amount: BigInt(row.amount),
          address: row.address,
          broadcastId: row.network_transaction_id === null ? null : Number(row.network_transaction_id),
        },
      ]),
    ),
    broadcasts: new Map(
      rows.broadcasts.map((row) => [
        Number(row.id),
        { id: Number(row.id), state: row.state, txid: row.txid, comment: row.comment, fee: row.fee === null ? null : BigInt(row.fee) },
      ]),
    ),
    lease: rows.lease
      ? { holder: rows.lease.holder, generation: Number(rows.lease.generation), expiresAtMs: Number(rows.lease.expires_at_ms) }
      : null,
    check: await app.verifyLedger(),
  };
}
