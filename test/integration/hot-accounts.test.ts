/**
 * Hot accounts on PostgreSQL: many workers transferring in both directions among a few accounts,
 * one transfer per call of `CoinLedger.transfer` (one statement, READ COMMITTED, accounts locked
 * in id order). Nothing may deadlock, abort or give up; no balance may go below zero; no update
 * may be lost (the balances sum to what they started with) and the ledger check holds.
 */
import { describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { BTC } from '../../src/domain/coins.js';
import { InsufficientBalance } from '../../src/domain/errors.js';
import { INTEGRATION_REQUIRED, createTestDatabase, isPostgresReachable } from '../helpers/engines.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { random } from './workers/random-ops.js';

const postgresAvailable = INTEGRATION_REQUIRED || (await isPostgresReachable());
const HOT_ACCOUNTS = 10;
const WORKERS = 16;
const TRANSFERS = 2_000;
const FUNDING = 5_000n;

describe.runIf(postgresAvailable)('hot accounts on postgres', () => {
  it(`runs ${TRANSFERS} opposite-direction transfers of ${WORKERS} workers among ${HOT_ACCOUNTS} accounts without a deadlock or a give-up`, async () => {
    const database = await createTestDatabase('postgres');
    const app = await CryptoAssets.open({
      database: database.options,
      coins: [{ coin: BTC, network: BTC.networks.regtest! }],
      migrate: true,
    });
    try {
      const btc = app.coin('btc');
      const ids = await btc.transaction(async (book) => {
        const wallet = await book.getOrCreateWallet('main');
        const house = await wallet.createAccount('house');
        const accounts = [];
        for (let i = 0; i < HOT_ACCOUNTS; i++) accounts.push((await wallet.createAccount(`hot-${i}`)).id);
        await wallet.transferMany(accounts.map((to) => ({ from: house, to, amount: FUNDING, allowNegativeBalance: true })));
        return accounts;
      });
      const before = { ...app.stats };
      const tally = { transfers: 0, refused: 0 };
      await Promise.all(
        Array.from({ length: WORKERS }, async (_, worker) => {
          const next = random(31 + worker);
          for (let i = 0; i < TRANSFERS / WORKERS; i++) {
            // Pairs drawn from few accounts, in both directions: without an order of locking,
            // two of these lock the same two rows in opposite orders.
            const a = ids[Math.floor(next() * ids.length)]!;
            let b = ids[Math.floor(next() * ids.length)]!;
            while (b === a) b = ids[Math.floor(next() * ids.length)]!;
            try {
              await btc.transfer('main', a, b, BigInt(1 + Math.floor(next() * 900)));
              tally.transfers++;
            } catch (error) {
              if (!(error instanceof InsufficientBalance)) throw error;
              tally.refused++;
            }
          }
        }),
      );
      expect(tally.transfers + tally.refused).toBe(TRANSFERS);
      expect(tally.transfers).toBeGreaterThan(TRANSFERS / 2);
      // Not one deadlock, serialization failure or give-up: each transfer ran exactly once.
      expect(app.stats.conflictRetries - before.conflictRetries).toBe(0);
      expect(app.stats.gaveUp - before.gaveUp).toBe(0);
      const accounts = await btc.read(async (book) => (await book.wallet('main')).listAccounts());
      const hot = accounts.filter((account) => ids.includes(account.id));
      for (const account of hot) expect(account.balance, account.name).toBeGreaterThanOrEqual(0n);
      expect(hot.reduce((sum, account) => sum + account.balance, 0n)).toBe(FUNDING * BigInt(HOT_ACCOUNTS));
      await expectLedgerConsistent(app);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});
