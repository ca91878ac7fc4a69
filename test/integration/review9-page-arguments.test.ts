/**
 * Review of issue 9 (library API of item 6): a malformed page size or cursor given to the paging
 * reads is bad input and must be a typed `InvalidArgument`. A `limit` of NaN or 2.5, or a
 * `beforeId` that is not a whole number, reached the database and came back as an untyped
 * driver error (SQLite "datatype mismatch", PostgreSQL "invalid input syntax for type bigint"),
 * which the command line reports as an internal error with a stack trace.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgument } from '../../src/domain/errors.js';
import type { WalletBook } from '../../src/ledger/wallet-book.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();

describe.each(engines)('review9: paging arguments on %s', (engine) => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    await fundAccount(ledger, 'main', 'alice', 1_000_000n);
  });
  afterEach(async () => {
    await ledger.finish();
  });

  const inWallet = <T>(fn: (wallet: WalletBook) => Promise<T>) =>
    ledger.app.coin('btc').read(async (book) => fn(await book.wallet('main')));

  it('refuses a page size or cursor that is not a number with InvalidArgument', async () => {
    await expect(inWallet((w) => w.listTransactions({ limit: Number.NaN }))).rejects.toBeInstanceOf(InvalidArgument);
    await expect(inWallet((w) => w.accountHistory('alice', { limit: Number.NaN }))).rejects.toBeInstanceOf(InvalidArgument);
    await expect(inWallet((w) => w.accountHistory('alice', { limit: 2.5 }))).rejects.toBeInstanceOf(InvalidArgument);
    await expect(inWallet((w) => w.accountHistory('alice', { beforeId: 1.5 }))).rejects.toBeInstanceOf(InvalidArgument);
    await expect(inWallet((w) => w.listEntries({ limit: Number.NaN }))).rejects.toBeInstanceOf(InvalidArgument);
    // Whole numbers out of range are still clamped, as documented.
    expect((await inWallet((w) => w.accountHistory('alice', { limit: 0 }))).length).toBe(1);
  });
});
