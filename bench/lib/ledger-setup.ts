/** Setting ledgers up for a measurement (never timed). */
import type { CryptoAssets } from '../../src/app.js';

/**
 * Create `count` accounts in `walletName` (created if missing) and give each `fundEach` base
 * units, moved from a house account allowed to go negative, so that the ledger check still holds.
 * Returns the account ids in creation order.
 */
export async function createFundedAccounts(
  app: CryptoAssets,
  coin: string,
  walletName: string,
  count: number,
  fundEach: bigint,
  prefix = 'user',
): Promise<number[]> {
  const ledger = app.coin(coin);
  const house = await ledger.transaction(async (book) => (await book.getOrCreateWallet(walletName)).getOrCreateAccount(`${prefix}-house`));
  const ids: number[] = [];
  const chunk = 250;
  for (let start = 0; start < count; start += chunk) {
    const made = await ledger.transaction(async (book) => {
      const wallet = await book.wallet(walletName);
      const created: number[] = [];
      for (let i = start; i < Math.min(count, start + chunk); i++) {
        const account = await wallet.createAccount(`${prefix}-${i}`);
        if (fundEach > 0n) await wallet.transfer(house, account, fundEach, null, { allowNegativeBalance: true });
        created.push(account.id);
      }
      return created;
    });
    ids.push(...made);
  }
  return ids;
}

/** Two different random picks from `ids`. */
export function randomPair(ids: readonly number[]): [number, number] {
  const from = ids[Math.floor(Math.random() * ids.length)]!;
  let to = from;
  while (to === from) to = ids[Math.floor(Math.random() * ids.length)]!;
  return [from, to];
}

/** A random amount of 1–100 base units. */
export function randomAmount(): bigint {
  return BigInt(1 + Math.floor(Math.random() * 100));
}

/**
 * Record `addresses` (already made by the node) as receiving addresses of `walletName`, spread
 * round-robin over up to 1,000 accounts. Not timed.
 */
export async function addReceivingAddresses(
  app: CryptoAssets,
  coin: string,
  walletName: string,
  addresses: readonly string[],
): Promise<void> {
  const accounts = await createFundedAccounts(app, coin, walletName, Math.min(1000, addresses.length), 0n, 'customer');
  const ledger = app.coin(coin);
  for (let start = 0; start < addresses.length; start += 500) {
    await ledger.transaction(async (book) => {
      const wallet = await book.wallet(walletName);
      for (let i = start; i < Math.min(addresses.length, start + 500); i++) {
        await wallet.addReceivingAddress(accounts[i % accounts.length]!, addresses[i]!);
      }
    });
  }
}
