/**
 * Balances stay inside the signed 64-bit columns they are stored in, on both engines. The coin
 * under test has 18 decimals and a maximum money at the very limit (9.223372036854775807 coins),
 * so two amounts that are each valid add up to more than a balance can hold.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC, INT64_MAX, type CoinDefinition } from '../../src/domain/coins.js';
import { BalanceOutOfRange, ConfigError } from '../../src/domain/errors.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { Account } from '../../src/ledger/records.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { expectLedgerConsistent, fundAccount, openTestLedger, randomTxid, rowCounts, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();

const BIG: CoinDefinition = {
  ...BTC,
  code: 'big',
  name: 'Eighteen decimals',
  decimals: 18,
  maxMoney: INT64_MAX,
  minimumWithdrawal: 0n,
};
const ONE_COIN = 10n ** 18n;
const FIVE_COINS = 5n * ONE_COIN;
const regtest = BIG.networks.regtest!;
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), regtest);

describe.each(engines)('amounts in range on %s', (engine) => {
  let ledger: TestLedger;
  let big: CoinLedger;

  beforeEach(async () => {
    ledger = await openTestLedger(engine, BIG);
    big = ledger.app.coin('big');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  async function account(name: string): Promise<Account> {
    return big.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount(name));
  }

  async function balanceOf(name: string): Promise<bigint> {
    return big.read(async (book) => (await (await book.wallet('main')).getAccount(name)).balance);
  }

  async function expectOutOfRange(promise: Promise<unknown>, accountId?: number): Promise<BalanceOutOfRange> {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error, 'the operation was not refused').toBeDefined();
    expect((error as { code?: unknown }).code, String(error)).toBe('balance_out_of_range');
    expect(error).toBeInstanceOf(BalanceOutOfRange);
    const typed = error as BalanceOutOfRange;
    if (accountId !== undefined) expect(typed.accountId).toBe(accountId);
    return typed;
  }

  it('refuses the second 5-coin deposit to one account, writes nothing, and the ledger still reads', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    const alice = await account('alice');
    const address = (await big.read(async (book) => (await book.wallet('main')).listReceivingAddresses({ account: alice })))[0]!;
    const before = await rowCounts(ledger.app, 'big');

    const second = big.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: BIG.confirmationThreshold,
        outputs: [{ address: address.address, amount: FIVE_COINS }],
      }),
    );
    const error = await expectOutOfRange(second, alice.id);
    expect(error.balance).toBe(FIVE_COINS);
    expect(error.change).toBe(FIVE_COINS);

    expect(await rowCounts(ledger.app, 'big')).toEqual(before);
    expect(await balanceOf('alice')).toBe(FIVE_COINS);
    const history = await big.read(async (book) => (await book.wallet('main')).accountHistory(alice));
    expect(history.map((entry) => entry.amount)).toEqual([FIVE_COINS]);
    await expectLedgerConsistent(ledger.app);
  });

  it('refuses a transfer that would overflow the receiver before writing anything, even when the caller catches it', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    await fundAccount(ledger, 'main', 'bob', FIVE_COINS);
    const alice = await account('alice');
    const bob = await account('bob');
    const before = await rowCounts(ledger.app, 'big');

    await expectOutOfRange(
      big.transaction(async (book) => (await book.wallet('main')).transfer(alice, bob, FIVE_COINS, null)),
      bob.id,
    );
    // A caller that handles the refusal and commits the rest must not commit half a transfer.
    await big.transaction(async (book) => {
      await expectOutOfRange((await book.wallet('main')).transfer(alice, bob, FIVE_COINS, null), bob.id);
    });

    expect(await rowCounts(ledger.app, 'big')).toEqual(before);
    expect(await balanceOf('alice')).toBe(FIVE_COINS);
    expect(await balanceOf('bob')).toBe(FIVE_COINS);
  });

  it('refuses an import that would overflow the receiving account, before writing anything', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    const alice = await account('alice');
    const before = await rowCounts(ledger.app, 'big');

    // The node holds 10 coins, the ledger accounts for 5: importing the other 5 onto alice overflows.
    await big.transaction(async (book) => {
      await expectOutOfRange((await book.wallet('main')).importUnaccountedBalance(alice, 2n * FIVE_COINS, 'import'), alice.id);
    });

    expect(await rowCounts(ledger.app, 'big')).toEqual(before);
    expect(await balanceOf('alice')).toBe(FIVE_COINS);
  });

  it('imports onto a wallet whose accounts together hold more than a 64-bit value', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    await fundAccount(ledger, 'main', 'bob', FIVE_COINS);
    const carol = await account('carol');
    const result = await big.transaction(async (book) =>
      (await book.wallet('main')).importUnaccountedBalance(carol, 2n * FIVE_COINS + 1n, 'import'),
    );
    expect(result).toMatchObject({ imported: 1n, expectedBalance: 2n * FIVE_COINS });
    expect(await balanceOf('carol')).toBe(1n);
  });

  it('refuses a debit that would take a house account below the smallest 64-bit balance', async () => {
    const house = await account('house');
    const bob = await account('bob');
    const carol = await account('carol');
    await big.transaction(async (book) =>
      (await book.wallet('main')).transfer(house, bob, FIVE_COINS, null, { allowNegativeBalance: true }),
    );
    const before = await rowCounts(ledger.app, 'big');

    const error = await expectOutOfRange(
      big.transaction(async (book) => (await book.wallet('main')).transfer(house, carol, FIVE_COINS, null, { allowNegativeBalance: true })),
      house.id,
    );
    expect(error.balance).toBe(-FIVE_COINS);
    expect(error.change).toBe(-FIVE_COINS);

    expect(await rowCounts(ledger.app, 'big')).toEqual(before);
    expect(await balanceOf('house')).toBe(-FIVE_COINS);
    expect(await balanceOf('carol')).toBe(0n);
  });

  it('refuses a network fee that would take the fee account below the smallest 64-bit balance', async () => {
    await fundAccount(ledger, 'main', 'alice', 10n);
    const alice = await account('alice');
    async function broadcastOneWithdrawal(fee: bigint) {
      const opened = await big.transaction(async (book) => {
        const wallet = await book.wallet('main');
        await wallet.withdraw(alice, EXTERNAL, 1n, null);
        return (await wallet.openBroadcast())!;
      });
      return big.transaction(async (book) => (await book.wallet('main')).closeBroadcast(opened.broadcast.id, randomTxid(), fee));
    }
    await broadcastOneWithdrawal(FIVE_COINS);
    const feeAccount = await big.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(feeAccount.balance).toBe(-FIVE_COINS);

    const second = broadcastOneWithdrawal(FIVE_COINS);
    await expectOutOfRange(second, feeAccount.id);

    const after = await big.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(after.balance).toBe(-FIVE_COINS);
    const open = await big.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened']));
    expect(open).toHaveLength(1);
  });

  it('turns a value beyond a 64-bit column in any ledger write into BalanceOutOfRange', async () => {
    await fundAccount(ledger, 'main', 'alice', 10n);
    const alice = await account('alice');
    const opened = await big.transaction(async (book) => {
      const wallet = await book.wallet('main');
      await wallet.withdraw(alice, EXTERNAL, 1n, null);
      return (await wallet.openBroadcast())!;
    });
    const before = await rowCounts(ledger.app, 'big');
    const error = await expectOutOfRange(
      big.transaction(async (book) => (await book.wallet('main')).closeBroadcast(opened.broadcast.id, randomTxid(), INT64_MAX + 1n)),
    );
    expect(error.accountId).toBeUndefined();
    expect(error.cause).toBeDefined();
    expect(await rowCounts(ledger.app, 'big')).toEqual(before);
  });

  it('adds wallet totals beyond 64 bits exactly in the ledger check and the deposit sums', async () => {
    await fundAccount(ledger, 'main', 'alice', FIVE_COINS);
    await fundAccount(ledger, 'main', 'bob', FIVE_COINS);
    const check = await ledger.app.verifyLedger();
    expect(check.problems).toEqual([]);
    const wallet = check.coins[0]!.wallets[0]!;
    expect(wallet.creditedDeposits).toBe(2n * FIVE_COINS);
    expect(wallet.accountsTotal).toBe(2n * FIVE_COINS);
    expect(wallet.walletBalance).toBe(2n * FIVE_COINS);

    // Two unconfirmed 5-coin deposits on their way to carol: each is a valid amount, their sum is not a 64-bit value.
    const carol = await account('carol');
    const address = await big.createReceivingAddress('main', carol);
    for (let i = 0; i < 2; i++) {
      await big.transaction((book) =>
        book.recordDeposit({ txid: randomTxid(), confirmations: 0, outputs: [{ address: address.address, amount: FIVE_COINS }] }),
      );
    }
    const sums = await big.read(async (book) => {
      const main = await book.wallet('main');
      return [await main.unconfirmedBalance(carol), await main.receivedByConfirmations({ account: carol }, 0)];
    });
    expect(sums).toEqual([2n * FIVE_COINS, 2n * FIVE_COINS]);
  });

  it('reports an engine-level 64-bit overflow of a query as BalanceOutOfRange, not as a raw database error', async () => {
    // SQLite's SUM() fails on overflow; PostgreSQL's SUM(bigint) is exact (numeric).
    const sum = ledger.app.database.transaction('read', (tx) =>
      tx.get<{ total: unknown }>(
        'SELECT SUM(v) AS total FROM (SELECT CAST(? AS BIGINT) AS v UNION ALL SELECT CAST(? AS BIGINT)) AS parts',
        [INT64_MAX, 1n],
      ),
    );
    if (engine === 'sqlite') await expectOutOfRange(sum);
    else expect((await sum)?.total).toBe(INT64_MAX + 1n);
  });
});

describe('coins defined in code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-amount-range-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a coin whose maximum money in base units could overflow a balance, before opening the database', async () => {
    const path = join(dir, 'never-opened.sqlite');
    const opening = CryptoAssets.open({
      database: { kind: 'sqlite', path },
      coins: [{ coin: { ...BIG, maxMoney: INT64_MAX + 1n }, network: regtest }],
      migrate: true,
    });
    const error = await opening.then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe('coins[0].coin.maxMoney');
    expect((error as Error).message).toBe(
      'config: coins[0].coin.maxMoney: coin big: exceeds what a 64-bit balance can hold at 18 decimals (at most 9.223372036854775807 coins)',
    );
    expect(existsSync(path)).toBe(false);
  });

  it('accepts a coin whose maximum money is exactly the 64-bit limit', async () => {
    const app = await CryptoAssets.open({
      database: { kind: 'sqlite', path: join(dir, 'at-limit.sqlite') },
      coins: [{ coin: BIG, network: regtest }],
      migrate: true,
    });
    await app.close();
  });
});
