/**
 * Random transfers and withdrawals against limited balances, shared by the in-process PostgreSQL
 * workers and the SQLite worker processes.
 */
import { CannotResolveDatabaseConflict, InsufficientBalance } from '../../../src/domain/errors.js';
import type { CoinLedger } from '../../../src/ledger/coin-ledger.js';

export interface OpsTally {
  transfers: number;
  withdrawals: number;
  refused: number;
  gaveUp: number;
}

/** A deterministic pseudo-random sequence per worker (xorshift), so failures can be replayed. */
export function random(seed: number): () => number {
  let state = seed || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) % 1_000_000) / 1_000_000;
  };
}

/** Run `count` operations: 80 % internal transfers, 20 % withdrawals, amounts 600..3,600 (above dust). */
export async function runRandomOps(
  ledger: CoinLedger,
  accountIds: readonly number[],
  externalAddress: string,
  count: number,
  seed: number,
): Promise<OpsTally> {
  const next = random(seed);
  const pick = () => accountIds[Math.floor(next() * accountIds.length)]!;
  const tally: OpsTally = { transfers: 0, withdrawals: 0, refused: 0, gaveUp: 0 };
  for (let i = 0; i < count; i++) {
    const from = pick();
    let to = pick();
    while (to === from) to = pick();
    const amount = BigInt(600 + Math.floor(next() * 3_000));
    const withdraw = next() < 0.2;
    try {
      await ledger.transaction(async (book) => {
        const wallet = await book.wallet('main');
        if (withdraw) await wallet.withdraw(from, externalAddress, amount);
        else await wallet.transfer(from, to, amount);
      });
      if (withdraw) tally.withdrawals++;
      else tally.transfers++;
    } catch (error) {
      if (error instanceof InsufficientBalance) tally.refused++;
      else if (error instanceof CannotResolveDatabaseConflict) tally.gaveUp++;
      else throw error;
    }
  }
  return tally;
}
