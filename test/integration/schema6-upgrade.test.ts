/**
 * Schema 5 (the ledger functions) was edited in place before its first release: a PostgreSQL
 * database that took an earlier schema 5 lacks the one-transfer function. Schema 6 creates every
 * function again, so such a database transfers again after `initialize-database`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { MemoryChain } from '../../src/backends/memory/index.js';
import { BTC } from '../../src/domain/coins.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';

const engines = (await enginesUnderTest()).filter((engine) => engine === 'postgres');

describe.each(engines)('schema 6 on %s', (engine) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
  });

  it('gives a database of an earlier schema 5 the one-transfer function again', async () => {
    database = await createTestDatabase(engine);
    const network = BTC.networks.regtest!;
    const open = (migrate: boolean) =>
      CryptoAssets.open({
        database: database!.options,
        coins: [{ coin: BTC, network, backend: new MemoryChain({ network }).createWallet('w') }],
        migrate,
      });
    const first = await open(true);
    await first.coin('btc').transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      await wallet.importUnaccountedBalance(await wallet.createAccount('alice'), 1_000n, 'funds');
      await wallet.createAccount('bob');
    });
    // As an earlier schema 5 left it: no btc_transfer, no history row for 6.
    await first.database.transaction('schema', async (tx) => {
      await tx.run(`DROP FUNCTION btc_transfer(TEXT, BIGINT, TEXT, BIGINT, TEXT, BIGINT, TEXT, TEXT, BOOLEAN, TIMESTAMPTZ)`);
      await tx.run(`DELETE FROM cryptoassets_migration WHERE scope = 'btc' AND version = 6`);
    });
    await first.close();

    const stale = await open(false).catch((error: unknown) => error);
    // Opening without migrating refuses a database behind the code's schema, naming the command.
    expect(stale).toBeInstanceOf(Error);
    expect(String((stale as Error).message)).toMatch(/initialize-database|schema/);

    const upgraded = await open(true);
    try {
      const done = await upgraded.coin('btc').transfer('main', 'alice', 'bob', 10n);
      expect(done.amount).toBe(10n);
      expect((await upgraded.verifyLedger()).ok).toBe(true);
    } finally {
      await upgraded.close();
    }
  });
});
