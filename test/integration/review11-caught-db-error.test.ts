/**
 * Review 11: a caller that catches what it takes for a refusal inside `ledger.transaction(...)`
 * and carries on. Refusals are answered as rows on PostgreSQL, so the transaction stays usable
 * (as documented). But a serialization failure caught the same way leaves the PostgreSQL
 * transaction aborted, and `COMMIT` of an aborted transaction is answered `ROLLBACK` without an
 * error: the managed transaction then reports success for work that was rolled back — it
 * returns transfers that do not exist, and does not re-run the callback as it would have for
 * the serialization failure it was meant to see.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { Transaction } from '../../src/ledger/records.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = (await enginesUnderTest()).filter((engine) => engine === 'postgres');

describe.each(engines)('a database error caught inside a managed transaction on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;
  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
    await btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      const alice = await wallet.createAccount('alice');
      await wallet.importUnaccountedBalance(alice, 4_000n, 'funds');
      for (const name of ['bob', 'carol', 'dave']) await wallet.transfer(alice, await wallet.createAccount(name), 1_000n);
    });
  });
  afterEach(async () => {
    await ledger.finish();
  });

  it('never reports a transaction committed when its work was rolled back', async () => {
    let attempts = 0;
    const outcome = await btc
      .transaction(async (book) => {
        attempts++;
        const wallet = await book.wallet('main');
        const first = await wallet.transfer('carol', 'dave', 5n, 'kept');
        if (attempts === 1) {
          // Another connection moves alice's money after this transaction's snapshot.
          await btc.transfer('main', 'alice', 'bob', 1n);
        }
        try {
          await wallet.transfer('alice', 'bob', 2n);
        } catch {
          // The caller skips a transfer it cannot make, as it may for a refusal.
        }
        return first;
      })
      .then(
        (first: Transaction) => ({ first }),
        (error: unknown) => ({ error }),
      );
    if ('first' in outcome) {
      // Reported committed: the transfer it returned must exist, as returned.
      const stored = await btc.read(async (book) => (await book.wallet('main')).getTransaction(outcome.first.id).catch((e: Error) => e));
      expect(stored).toEqual(outcome.first);
    } else {
      // Or the transaction failed loudly: nothing of it is kept.
      expect(outcome.error).toBeInstanceOf(Error);
      const carol = await btc.read(async (book) => (await book.wallet('main')).getAccount('carol'));
      expect(carol.balance).toBe(1_000n);
    }
  });
});
