/**
 * Batches of transfers and withdrawals on both engines: all or nothing (a refused request names
 * its index and leaves nothing of the batch written, even for a caller that catches the error),
 * idempotent replays within and across batches, one `queued` event per withdrawal, a size limit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import type { CryptoAssetsError } from '../../src/domain/errors.js';
import {
  AccountFrozen,
  IdempotencyKeyReused,
  InsufficientBalance,
  InvalidAmount,
  InvalidArgument,
  LeaseLost,
  NotFound,
} from '../../src/domain/errors.js';
import type { WriteFence } from '../../src/ledger/context.js';
import { BATCH_SIZE_MAX, type TransferRequest } from '../../src/index.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, rowCounts, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), BTC.networks.regtest!);

describe.each(engines)('batches on %s', (engine) => {
  let ledger: TestLedger;
  let bob: number;
  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    bob = (await ledger.app.coin('btc').transaction(async (book) => (await book.wallet('main')).createAccount('bob'))).id;
  });
  afterEach(async () => {
    await ledger.finish();
  });

  const balances = () =>
    ledger.app
      .coin('btc')
      .read(async (book) => Object.fromEntries((await (await book.wallet('main')).listAccounts()).map((a) => [a.name, a.balance])));
  const eventCount = async () =>
    Number(
      (await ledger.app.database.transaction('read', (tx) => tx.get<{ n: unknown }>('SELECT COUNT(*) AS n FROM cryptoassets_event')))?.n,
    );

  it('writes every transfer of a batch, in order, accounts by name or id', async () => {
    const done = await ledger.app.coin('btc').transferMany('main', [
      { from: 'alice', to: bob, amount: 1_000n, label: 'one' },
      { from: 'alice', to: 'bob', amount: '0.00002' },
      { from: bob, to: 'alice', amount: 500n },
    ]);
    expect(done.map((t) => [t.type, t.amount, t.label])).toEqual([
      ['internal', 1_000n, 'one'],
      ['internal', 2_000n, null],
      ['internal', 500n, null],
    ]);
    expect(new Set(done.map((t) => t.id)).size).toBe(3);
    expect(await balances()).toMatchObject({ alice: 97_500n, bob: 2_500n });
  });

  it('writes nothing of a batch whose one request is refused, names that request, and leaves the caller’s transaction usable', async () => {
    const counts = await rowCounts(ledger.app);
    const events = await eventCount();
    const error = await ledger.app
      .coin('btc')
      .transferMany('main', [
        { from: 'alice', to: bob, amount: 1_000n },
        { from: 'alice', to: bob, amount: 2_000n },
        { from: 'alice', to: bob, amount: 500_000n },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientBalance);
    expect((error as CryptoAssetsError).batchItem).toBe(2);
    expect((error as Error).message).toMatch(/^batch item 2: account \d+ holds 97000 base units, cannot send 500000$/);
    expect(await rowCounts(ledger.app)).toEqual(counts);

    // A caller that catches the refusal inside its transaction and commits keeps nothing of the
    // batch, and can go on writing in that transaction.
    await ledger.app.coin('btc').transaction(async (book) => {
      const wallet = await book.wallet('main');
      const caught = await wallet
        .withdrawMany([
          { from: 'alice', address: EXTERNAL, amount: 10_000n },
          { from: 'nobody', address: EXTERNAL, amount: 10_000n },
        ])
        .catch((e: unknown) => e);
      expect(caught).toBeInstanceOf(NotFound);
      expect((caught as CryptoAssetsError).batchItem).toBe(1);
      await wallet.createAccount('carol');
    });
    expect(await rowCounts(ledger.app)).toEqual({ ...counts, account: counts.account! + 1 });
    expect(await eventCount()).toBe(events);
    expect(await balances()).toMatchObject({ alice: 100_000n, bob: 0n, carol: 0n });
  });

  it('checks each balance at its item, in order, not the batch’s net change (item 57 overdraws only after the 57 before it)', async () => {
    const btc = ledger.app.coin('btc');
    const counts = await rowCounts(ledger.app);
    const drain = Array.from({ length: 57 }, (): TransferRequest => ({ from: 'alice', to: bob, amount: 1_700n }));
    // Alice's net change over the whole batch is -51,900 of her 100,000: a check of the summed
    // deltas alone would let item 57 overdraw her.
    const error = await btc
      .transferMany('main', [...drain, { from: 'alice', to: bob, amount: 5_000n }, { from: bob, to: 'alice', amount: 50_000n }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientBalance);
    expect((error as CryptoAssetsError).batchItem).toBe(57);
    expect((error as Error).message).toMatch(/^batch item 57: account \d+ holds 3100 base units, cannot send 5000$/);
    expect(await rowCounts(ledger.app)).toEqual(counts);

    // Bob holds nothing: he may send what an earlier item gave him, not what a later one will.
    const early = await btc
      .transferMany('main', [
        { from: 'alice', to: bob, amount: 2_000n },
        { from: bob, to: 'alice', amount: 2_500n },
        { from: 'alice', to: bob, amount: 1_000n },
      ])
      .catch((e: unknown) => e);
    expect(early).toBeInstanceOf(InsufficientBalance);
    expect((early as CryptoAssetsError).batchItem).toBe(1);
    expect(await rowCounts(ledger.app)).toEqual(counts);
    const done = await btc.transferMany('main', [
      { from: 'alice', to: bob, amount: 2_000n },
      { from: 'alice', to: bob, amount: 1_000n },
      { from: bob, to: 'alice', amount: 2_500n },
    ]);
    expect(done.map((t) => t.amount)).toEqual([2_000n, 1_000n, 2_500n]);
    expect(done.map((t) => t.id)).toEqual([...done.map((t) => t.id)].sort((a, b) => a - b));
    expect(await balances()).toMatchObject({ alice: 99_500n, bob: 500n });
  });

  it('reports the first failing item in order, whatever kind of refusal a later item would get', async () => {
    const btc = ledger.app.coin('btc');
    const carol = (await btc.transaction(async (book) => (await book.wallet('main')).createAccount('carol'))).id;
    await btc.transaction(async (book) => (await book.wallet('main')).freezeAccount('carol'));
    const counts = await rowCounts(ledger.app);
    const refusedAt = async (items: TransferRequest[]) => {
      const error = await btc.transferMany('main', items).catch((e: unknown) => e);
      expect(await rowCounts(ledger.app)).toEqual(counts);
      return [(error as Error).constructor.name, (error as CryptoAssetsError).batchItem];
    };
    const ok: TransferRequest = { from: 'alice', to: bob, amount: 1_000n };
    expect(await refusedAt([ok, { from: bob, to: 'alice', amount: 5_000n }, { from: 'alice', to: carol, amount: 1n }])).toEqual([
      'InsufficientBalance',
      1,
    ]);
    expect(await refusedAt([ok, { from: 'alice', to: carol, amount: 1n }, { from: bob, to: 'alice', amount: 5_000n }])).toEqual([
      'AccountFrozen',
      1,
    ]);
    expect(await refusedAt([ok, ok, { from: 'nobody', to: bob, amount: 1n }, { from: bob, to: 'alice', amount: 5_000n }])).toEqual([
      'NotFound',
      2,
    ]);
    expect(await refusedAt([ok, { from: bob, to: 'alice', amount: 5_000n }, { from: 'nobody', to: bob, amount: 1n }])).toEqual([
      'InsufficientBalance',
      1,
    ]);
  });

  it('refuses an account of another wallet given by id, alone and in a batch, and writes nothing', async () => {
    const btc = ledger.app.coin('btc');
    const stranger = (
      await btc.transaction(async (book) => {
        const other = await book.getOrCreateWallet('other');
        return other.createAccount('stranger');
      })
    ).id;
    const counts = await rowCounts(ledger.app);
    const alone = await btc.transfer('main', 'alice', stranger, 5n).catch((e: unknown) => e);
    expect(alone).toBeInstanceOf(NotFound);
    const sending = await btc.transfer('main', stranger, bob, 5n, null, { allowNegativeBalance: true }).catch((e: unknown) => e);
    expect(sending).toBeInstanceOf(NotFound);
    const batch = await btc
      .transferMany('main', [
        { from: 'alice', to: bob, amount: 5n },
        { from: 'alice', to: stranger, amount: 5n },
      ])
      .catch((e: unknown) => e);
    expect(batch).toBeInstanceOf(NotFound);
    expect((batch as CryptoAssetsError).batchItem).toBe(1);
    expect(await rowCounts(ledger.app)).toEqual(counts);
    expect(await balances()).toMatchObject({ alice: 100_000n, bob: 0n });
  });

  it('checks every request before writing: a bad amount, a frozen account', async () => {
    const btc = ledger.app.coin('btc');
    const counts = await rowCounts(ledger.app);
    const bad = await btc
      .transferMany('main', [
        { from: 'alice', to: bob, amount: 1n },
        { from: 'alice', to: bob, amount: '-1' },
      ])
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidAmount);
    expect((bad as CryptoAssetsError).batchItem).toBe(1);
    await btc.transaction(async (book) => (await book.wallet('main')).freezeAccount('bob'));
    const frozen = await btc
      .withdrawMany('main', [
        { from: 'alice', address: EXTERNAL, amount: 10_000n },
        { from: 'bob', address: EXTERNAL, amount: 10_000n, allowNegativeBalance: true },
      ])
      .catch((e: unknown) => e);
    expect(frozen).toBeInstanceOf(AccountFrozen);
    expect((frozen as CryptoAssetsError).batchItem).toBe(1);
    const dust = await btc.withdrawMany('main', [{ from: 'alice', address: EXTERNAL, amount: 1n }]).catch((e: unknown) => e);
    expect(dust).toBeInstanceOf(InvalidAmount);
    expect({ ...(await rowCounts(ledger.app)), account: counts.account }).toEqual(counts);
  });

  it('answers a reused idempotency key with the first result, within a batch and across batches', async () => {
    const btc = ledger.app.coin('btc');
    const batch: TransferRequest[] = [
      { from: 'alice', to: bob, amount: 1_000n, idempotencyKey: 'pay-1' },
      { from: 'alice', to: bob, amount: 1_000n, idempotencyKey: 'pay-1' },
      { from: 'alice', to: bob, amount: 3_000n, idempotencyKey: 'pay-2' },
    ];
    const first = await btc.transferMany('main', batch);
    expect(first[1]).toEqual(first[0]);
    expect(await balances()).toMatchObject({ alice: 96_000n, bob: 4_000n });
    const again = await btc.transferMany('main', batch);
    expect(again).toEqual(first);
    expect(await btc.transfer('main', 'alice', bob, 3_000n, null, { idempotencyKey: 'pay-2' })).toEqual(first[2]);
    expect(await balances()).toMatchObject({ alice: 96_000n, bob: 4_000n });

    const counts = await rowCounts(ledger.app);
    const reused = await btc
      .transferMany('main', [
        { from: 'alice', to: bob, amount: 5n, idempotencyKey: 'pay-3' },
        { from: 'alice', to: bob, amount: 2_000n, idempotencyKey: 'pay-1' },
      ])
      .catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(IdempotencyKeyReused);
    expect((reused as Error).message).toBe(
      'batch item 1: idempotency key "pay-1" was used for a different request: different amount (1000 before, 2000 now)',
    );
    expect(await rowCounts(ledger.app)).toEqual(counts);

    const withdrawals = await btc.withdrawMany('main', [
      { from: 'alice', address: EXTERNAL, amount: 10_000n, idempotencyKey: 'out-1' },
      { from: 'alice', address: EXTERNAL, amount: 10_000n, idempotencyKey: 'out-1' },
    ]);
    expect(withdrawals[1]).toEqual(withdrawals[0]);
    const otherAddress = encodeAddress('p2wpkh', new Uint8Array(20).fill(8), BTC.networks.regtest!);
    const elsewhere = await btc
      .withdraw('main', 'alice', otherAddress, 10_000n, null, { idempotencyKey: 'out-1' })
      .catch((e: unknown) => e);
    expect(elsewhere).toBeInstanceOf(IdempotencyKeyReused);
    expect((elsewhere as Error).message).toMatch(/different address$/);
  });

  it('queues withdrawals with one queued event each, as a single withdrawal does', async () => {
    const btc = ledger.app.coin('btc');
    const events = await eventCount();
    const queued = await btc.withdrawMany('main', [
      { from: 'alice', address: EXTERNAL, amount: 10_000n, label: 'rent' },
      { from: 'alice', address: EXTERNAL, amount: 20_000n },
    ]);
    expect(queued.map((t) => [t.type, t.state, t.amount, t.address, t.label])).toEqual([
      ['withdrawal', 'pending', 10_000n, EXTERNAL, 'rent'],
      ['withdrawal', 'pending', 20_000n, EXTERNAL, null],
    ]);
    const single = await btc.transaction(async (book) => (await book.wallet('main')).withdraw('alice', EXTERNAL, 30_000n));
    expect(await eventCount()).toBe(events + 3);
    const written = await ledger.app.events.after(0n, 100);
    const payloads = written.filter((event) => event.data.change === 'queued').map((event) => event.data);
    expect(payloads.map((p) => [p.transactionId, p.amount, p.amountDecimal, p.account.name, p.wallet, p.address])).toEqual([
      [queued[0]!.id, '10000', '0.00010000', 'alice', 'main', EXTERNAL],
      [queued[1]!.id, '20000', '0.00020000', 'alice', 'main', EXTERNAL],
      [single.id, '30000', '0.00030000', 'alice', 'main', EXTERNAL],
    ]);
    // The function's event and the single withdrawal's carry the same fields.
    expect(Object.keys(payloads[0]!)).toEqual(Object.keys(payloads[2]!));
    expect(await balances()).toMatchObject({ alice: 40_000n });
  });

  it('answers a batch with the transactions as the database holds them, set-based or item by item', async () => {
    const btc = ledger.app.coin('btc');
    const stored = (id: number) => btc.read(async (book) => (await book.wallet('main')).getTransaction(id));
    const items: TransferRequest[] = [
      { from: 'alice', to: bob, amount: 7n, label: 'a', idempotencyKey: 'b-1' },
      { from: bob, to: 'alice', amount: 3n },
      { from: 'alice', to: 'bob', amount: '0.00000011' },
    ];
    const first = await btc.transferMany('main', items);
    // The same keys again with one new item: a replay goes item by item.
    const second = await btc.transferMany('main', [items[0]!, { from: 'alice', to: bob, amount: 1n }]);
    const inTransaction = await btc.transaction(async (book) => (await book.wallet('main')).transferMany(items.slice(1)));
    for (const answer of [...first, ...second, ...inTransaction]) expect(answer).toEqual(await stored(answer.id));
    expect(second[0]).toEqual(first[0]);
    expect(first.map((t) => [t.amount, t.label, t.idempotencyKey])).toEqual([
      [7n, 'a', 'b-1'],
      [3n, null, null],
      [11n, null, null],
    ]);
    expect((await ledger.app.verifyLedger()).ok).toBe(true);
  });

  it('answers a single transfer with the transaction as the database holds it, by each path and key', async () => {
    const btc = ledger.app.coin('btc');
    const stored = (id: number) => btc.read(async (book) => (await book.wallet('main')).getTransaction(id));
    const answers = [
      await btc.transfer('main', 'alice', bob, 1_234n, 'by name and id'),
      await btc.transfer('main', bob, 'alice', '0.00000200', null, { idempotencyKey: 'k-1' }),
      // The same key again: the earlier transaction, not a new one.
      await btc.transfer('main', bob, 'alice', 200n, null, { idempotencyKey: 'k-1' }),
      await btc.transaction(async (book) => (await book.wallet('main')).transfer('alice', 'bob', 5n, 'in a transaction')),
      await btc.transfer('main', bob, 'alice', 10_000n, null, { allowNegativeBalance: true }),
    ];
    for (const answer of answers) expect(answer).toEqual(await stored(answer.id));
    expect(answers[2]!.id).toBe(answers[1]!.id);
    expect(answers.map((t) => [t.amount, t.label, t.idempotencyKey])).toEqual([
      [1_234n, 'by name and id', null],
      [200n, null, 'k-1'],
      [200n, null, 'k-1'],
      [5n, 'in a transaction', null],
      [10_000n, null, null],
    ]);
    expect(await balances()).toMatchObject({ alice: 100_000n - 1_234n + 200n - 5n + 10_000n, bob: 1_234n - 200n + 5n - 10_000n });
    expect((await ledger.app.verifyLedger()).ok).toBe(true);
  });

  it(`refuses a batch of more than ${BATCH_SIZE_MAX} requests before writing anything`, async () => {
    const counts = await rowCounts(ledger.app);
    const items = Array.from({ length: BATCH_SIZE_MAX + 1 }, () => ({ from: 'alice', to: bob, amount: 1n }));
    await expect(ledger.app.coin('btc').transferMany('main', items)).rejects.toThrow(InvalidArgument);
    expect(await ledger.app.coin('btc').transferMany('main', [])).toEqual([]);
    expect(await rowCounts(ledger.app)).toEqual(counts);
  });

  it('checks a fenced ledger’s lease in the same transaction before any of its transfers or withdrawals', async () => {
    let checks = 0;
    const fence: WriteFence = {
      generation: 7,
      check: async (tx) => {
        checks++;
        // Proof that the check runs inside the write transaction: it can read there.
        await tx.get('SELECT 1 AS one');
        throw new LeaseLost('generation 7 no longer holds the lease');
      },
      sendDeadline: () => Number.POSITIVE_INFINITY,
      now: () => 0,
    };
    const fenced = ledger.app.coin('btc').fenced(fence);
    const counts = await rowCounts(ledger.app);
    await expect(fenced.transfer('main', 'alice', bob, 5n)).rejects.toThrow(LeaseLost);
    await expect(fenced.withdraw('main', 'alice', EXTERNAL, 10_000n)).rejects.toThrow(LeaseLost);
    await expect(fenced.transferMany('main', [{ from: 'alice', to: bob, amount: 5n }])).rejects.toThrow(LeaseLost);
    await expect(fenced.withdrawMany('main', [{ from: 'alice', address: EXTERNAL, amount: 10_000n }])).rejects.toThrow(LeaseLost);
    expect(checks).toBe(4);
    expect(await rowCounts(ledger.app)).toEqual(counts);
  });

  it.runIf(engine === 'postgres')('answers concurrent duplicates of one idempotency key with one transfer', async () => {
    const btc = ledger.app.coin('btc');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => btc.transfer('main', 'alice', bob, 700n, null, { idempotencyKey: 'race' })),
    );
    expect(new Set(results.map((t) => t.id)).size).toBe(1);
    expect(await balances()).toMatchObject({ alice: 99_300n, bob: 700n });
  });
});
