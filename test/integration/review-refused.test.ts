/**
 * Review: refused and cancelled withdrawals against the rest of the books (balance import,
 * audit, events), on both engines.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC, INT64_MAX, type CoinDefinition } from '../../src/domain/coins.js';
import { BackendError, BalanceOutOfRange } from '../../src/domain/errors.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import { auditCoin } from '../../src/ledger/node-audit.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const regtest = BTC.networks.regtest!;
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), regtest);

describe.each(engines)('refused withdrawals on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  async function aliceAccount() {
    return btc.read(async (book) => (await book.wallet('main')).getAccount('alice'));
  }

  /** Alice's deposit of `amount`, paid on the chain and credited. */
  async function deposit(amount: bigint): Promise<void> {
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    ledger.chain.pay(address.address, amount);
    ledger.chain.mine(BTC.confirmationThreshold);
    await btc.syncWithChain();
  }

  /** A withdrawal the node refuses (e.g. its output below the node's dust rule). */
  async function refusedWithdrawal(amount: bigint): Promise<number> {
    const withdrawal = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.withdraw(await main.getAccount('alice'), EXTERNAL, amount);
    });
    ledger.chain.failNext('sendMany', new BackendError('dust', { retryable: true, code: 'insufficient_funds' }));
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status === 'isolated' && outcome.refused.map((w) => w.id)).toEqual([withdrawal.id]);
    return withdrawal.id;
  }

  it('imports nothing when the only difference with the node is a refused withdrawal', async () => {
    await deposit(100_000n);
    await refusedWithdrawal(30_000n);
    // The node still holds the refused withdrawal's 30 000: they are owed to its recipient (or, if
    // cancelled, to alice), not unaccounted money.
    const imported = await btc.importBalance('main', await aliceAccount());
    expect(imported.imported).toBe(0n);
    const audit = await auditCoin(btc);
    expect(audit.status === 'checked' && audit.unaccounted).toBe(0n);
  });

  it('does not create money when a refused withdrawal is cancelled after an import', async () => {
    await deposit(100_000n);
    const id = await refusedWithdrawal(30_000n);
    await btc.importBalance('main', await aliceAccount());
    await btc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(id));
    // Alice can own at most what the node holds.
    const alice = await btc.read(async (book) => (await (await book.wallet('main')).getAccount('alice')).balance);
    expect(alice).toBe(100_000n);
    const audit = await auditCoin(btc);
    expect(audit.ok).toBe(true);
  });
});

const BIG: CoinDefinition = { ...BTC, code: 'big', name: 'Eighteen decimals', decimals: 18, maxMoney: INT64_MAX, minimumWithdrawal: 0n };
const FIVE_COINS = 5n * 10n ** 18n;

describe.each(engines)('cancelling a withdrawal near the 64-bit limit on %s', (engine) => {
  let ledger: TestLedger;
  let big: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine, BIG);
    big = ledger.app.coin('big');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  it('refuses a cancellation whose refund would overflow the account before writing anything, even when the caller catches it', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    const external = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), BIG.networks.regtest!);
    const withdrawal = await big.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.withdraw(await main.getAccount('alice'), external, 4n * 10n ** 18n);
    });
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS); // 6 coins now: a 4-coin refund would pass 9.22
    // A caller that handles the refusal and commits the rest must not commit half a cancellation.
    await big.transaction(async (book) => {
      const error = await (await book.wallet('main')).cancelWithdrawal(withdrawal.id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BalanceOutOfRange);
    });
    const after = await big.read(async (book) => (await book.wallet('main')).getTransaction(withdrawal.id));
    expect(after.state).toBe('pending');
  });
});

describe.each(engines)('the ledger check and cancelled withdrawals on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
  });
  afterEach(async () => {
    await ledger.app.close();
    await ledger.database.drop();
  });

  it('finds a refund posted to another account than the one the withdrawal debited', async () => {
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    const { withdrawal, bob } = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      const bob = await main.getOrCreateAccount('bob');
      return { withdrawal: await main.withdraw(await main.getAccount('alice'), EXTERNAL, 30_000n), bob };
    });
    // A faulty cancellation (or a hand-made fix) refunds bob instead of alice: every sum nets out.
    await ledger.app.database.transaction('write', async (tx) => {
      const now = new Date().toISOString();
      await tx.run(`UPDATE btc_transaction SET state = 'cancelled' WHERE id = ?`, [withdrawal.id]);
      await tx.run(
        `INSERT INTO btc_entry (account_id, transaction_id, kind, amount, created_at) VALUES (?, ?, 'withdrawal_refund', 30000, ?)`,
        [bob.id, withdrawal.id, now],
      );
      await tx.run(`UPDATE btc_account SET balance = balance + 30000 WHERE id = ?`, [bob.id]);
    });
    const check = await ledger.app.verifyLedger();
    expect(check.ok).toBe(false);
  });
});
