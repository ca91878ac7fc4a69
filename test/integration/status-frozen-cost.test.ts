/**
 * Review mend: to find the withdrawals held by frozen accounts, `status()` (every /ready and
 * /metrics read) listed every account of every wallet. It now reads only the held withdrawals'
 * ids, so what a status read fetches does not grow with the number of (unfrozen) accounts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { HelperService } from '../../src/service/helper-service.js';
import type { SqlExecutor } from '../../src/store/database.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const quiet = { info() {}, warn() {}, error() {} };

describe.each(engines)('status read of held withdrawals on %s', (engine) => {
  let ledger: TestLedger;
  let service: HelperService;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    const config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      status_server: { enabled: false },
    });
    service = new HelperService(ledger.app, config, quiet, { manual: true, leaseTtlMs: 20_000 });
  });
  afterEach(async () => {
    await service.stop();
    await ledger.finish();
  });

  /** Statements sent and rows fetched by one status read as /ready and /metrics make it. */
  async function statusCost() {
    const database = ledger.app.database;
    const transaction = database.transaction.bind(database);
    let statements = 0;
    let rows = 0;
    database.transaction = ((mode, fn) =>
      transaction(mode, (tx: SqlExecutor) =>
        fn({
          ...tx,
          run: (sql, params) => (statements++, tx.run(sql, params)),
          get: async (sql, params) => {
            statements++;
            const row = await tx.get(sql, params);
            if (row !== undefined) rows++;
            return row;
          },
          all: async (sql, params) => {
            statements++;
            const found = await tx.all(sql, params);
            rows += found.length;
            return found;
          },
        } as SqlExecutor),
      )) as typeof database.transaction;
    try {
      const status = await service.status({ recent: false });
      return { statements, rows, wallet: status.coins[0]!.wallets[0]! };
    } finally {
      database.transaction = transaction;
    }
  }

  async function addAccounts(names: readonly string[]): Promise<void> {
    await ledger.app.coin('btc').transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      for (const name of names) await wallet.createAccount(name);
    });
  }

  it('fetches the same rows with 5 or 500 accounts, and still reports the held withdrawals', async () => {
    ledger.chain.fund(ledger.backend, 100_000n);
    await ledger.app.coin('btc').transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      const house = await wallet.createAccount('house');
      const other = await wallet.createAccount('other');
      await wallet.importUnaccountedBalance(house, 100_000n, 'test funds');
      await wallet.transfer(house, other, 40_000n, 'share');
      for (const amount of [1_000n, 2_000n]) await wallet.withdraw(house, ledger.chain.externalAddress(), amount);
      await wallet.withdraw(other, ledger.chain.externalAddress(), 3_000n);
      await wallet.freezeAccount(house);
    });
    await addAccounts(['a', 'b', 'c']);

    const few = await statusCost();
    expect(few.wallet).toMatchObject({ queuedWithdrawals: 3, heldWithdrawals: 2 });
    expect(few.wallet.pending.map((w) => w.held)).toEqual([true, true, false]);

    await addAccounts(Array.from({ length: 495 }, (_, i) => `customer-${i}`));
    const many = await statusCost();
    expect(many.wallet).toMatchObject({ queuedWithdrawals: 3, heldWithdrawals: 2 });
    expect(many.wallet.pending.map((w) => w.held)).toEqual([true, true, false]);
    // Before, the status read listed every account: 495 more rows here.
    expect({ statements: many.statements, rows: many.rows }).toEqual({ statements: few.statements, rows: few.rows });
  });
});
