/**
 * A ledger on a fresh database with BTC (regtest) on the in-memory chain, and the checks every
 * scenario ends with.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { type MemoryBackend, MemoryChain } from '../../src/backends/memory/index.js';
import { BTC, type CoinDefinition } from '../../src/domain/coins.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import type { EngineName } from '../../src/store/database.js';
import { coinTables } from '../../src/store/migrations.js';
import { createTestDatabase, type TestDatabase } from './engines.js';

export interface TestLedger {
  readonly app: CryptoAssets;
  readonly chain: MemoryChain;
  readonly backend: MemoryBackend;
  readonly database: TestDatabase;
  readonly coin: CoinDefinition;
  /** Ledger check, then close and drop the database. */
  finish(): Promise<void>;
}

export async function openTestLedger(
  engine: EngineName,
  coin: CoinDefinition = BTC,
  options: { log?: LedgerLog } = {},
): Promise<TestLedger> {
  const database = await createTestDatabase(engine);
  const network = coin.networks.regtest!;
  const chain = new MemoryChain({ network });
  const backend = chain.createWallet('ledger');
  const app = await CryptoAssets.open({
    database: database.options,
    coins: [{ coin, network, backend }],
    migrate: true,
    log: options.log,
  });
  return {
    app,
    chain,
    backend,
    database,
    coin,
    finish: async () => {
      try {
        await expectLedgerConsistent(app);
      } finally {
        await app.close();
        await database.drop();
      }
    },
  };
}

/** The ledger check must hold; prints every problem when it does not. */
export async function expectLedgerConsistent(app: CryptoAssets): Promise<void> {
  const check = await app.verifyLedger();
  expect(check.problems).toEqual([]);
  expect(check.ok).toBe(true);
}

/** A random txid, for spoofed deposits. */
export function randomTxid(): string {
  return randomBytes(32).toString('hex');
}

/** Row counts of every table of a coin, to prove a refused operation wrote nothing. */
export async function rowCounts(app: CryptoAssets, coinCode = 'btc'): Promise<Record<string, number>> {
  const tables = coinTables(coinCode);
  return app.database.transaction('read', async (tx) => {
    const counts: Record<string, number> = {};
    for (const [name, table] of Object.entries(tables)) {
      const row = await tx.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table}`);
      counts[name] = Number(row?.n);
    }
    return counts;
  });
}

/** Give an account a credited balance through a (spoofed) deposit at the confirmation threshold. */
export async function fundAccount(ledger: TestLedger, walletName: string, accountName: string, amount: bigint): Promise<void> {
  const btc = ledger.app.coin(ledger.coin.code);
  const account = await btc.transaction(async (book) => (await book.getOrCreateWallet(walletName)).getOrCreateAccount(accountName));
  const address = await btc.createReceivingAddress(walletName, account);
  await btc.transaction((book) =>
    book.recordDeposit({
      txid: randomTxid(),
      confirmations: ledger.coin.confirmationThreshold,
      outputs: [{ address: address.address, amount }],
    }),
  );
}
