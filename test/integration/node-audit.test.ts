/**
 * The balance audit (`verifyLedger({ node: true })`) on the in-memory chain and both engines:
 * the books against the node wallet, every difference explained or failed.
 *
 * Deposits are recorded with `recordDeposit` from what the chain says (txid, amount, depth), so
 * these tests depend on the ledger and `getBalance` only, not on how the service reads the chain.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import { auditCoin, type CheckedNodeAudit, type NodeAudit } from '../../src/ledger/node-audit.js';
import type { LedgerCheck } from '../../src/ledger/verify.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { openTestLedger, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const COIN = 100_000_000n;
/** Quick re-readings: the tests that need them say so. */
const FAST = { attempts: 2, pauseMs: 0 } as const;

function checked(audit: NodeAudit | undefined): CheckedNodeAudit {
  expect(audit?.status).toBe('checked');
  return audit as CheckedNodeAudit;
}

function nodeAuditOf(check: LedgerCheck): CheckedNodeAudit {
  expect(check.nodeAudited).toBe(true);
  return checked(check.coins[0]!.node);
}

describe.each(engines)('balance audit against the in-memory chain on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;
  const threshold = () => ledger.coin.confirmationThreshold;

  beforeEach(async () => {
    ledger = await openTestLedger(engine);
    btc = ledger.app.coin('btc');
  });
  afterEach(async () => {
    await ledger.finish();
  });

  async function account(wallet: string, name: string) {
    return btc.transaction(async (book) => (await book.getOrCreateWallet(wallet)).getOrCreateAccount(name));
  }

  /** The outside world pays an address of the account; the chain confirms it `confirmations` deep, the ledger records it so. */
  async function deposit(wallet: string, name: string, amount: bigint, confirmations: number) {
    const { address } = await btc.createReceivingAddress(wallet, await account(wallet, name));
    const txid = ledger.chain.pay(address, amount);
    if (confirmations > 0) ledger.chain.mine(confirmations);
    const record = (depth: number) =>
      btc.transaction((book) => book.recordDeposit({ txid, confirmations: depth, outputs: [{ address, amount }] }));
    await record(confirmations);
    return { txid, record };
  }

  async function queueWithdrawal(wallet: string, name: string, amount: bigint): Promise<void> {
    const from = await account(wallet, name);
    await btc.transaction(async (book) => (await book.wallet(wallet)).send(from, ledger.chain.externalAddress(), amount));
  }

  it('agrees when the books hold and the node wallet holds what they expect, over all ledger wallets of the coin', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await deposit('other', 'bob', 2n * COIN, threshold());
    await queueWithdrawal('main', 'alice', 1n * COIN);
    await queueWithdrawal('main', 'alice', 30_000_000n);
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status).toBe('sent');
    const fee = outcome.status === 'sent' ? outcome.broadcast.fee! : 0n;

    const check = await ledger.app.verifyLedger({ node: true });
    expect(check.problems).toEqual([]);
    expect(check).toMatchObject({ ok: true, booksOk: true, nodeAudited: true });
    const audit = nodeAuditOf(check);
    const expected = 7n * COIN - 130_000_000n - fee;
    expect(audit).toMatchObject({ ok: true, minConfirmations: 0, nodeBalance: expected, difference: 0n, shortfall: 0n, unaccounted: 0n });
    expect(audit.ledger).toMatchObject({
      creditedDeposits: 7n * COIN,
      sentWithdrawals: 130_000_000n,
      fees: fee,
      queuedWithdrawals: 0n,
      expected,
      accountsTotal: expected,
    });
    expect(audit.explanations).toEqual([]);
    // Both ledger wallets together make up the node wallet; each alone would not.
    expect(check.coins[0]!.wallets.reduce((sum, wallet) => sum + wallet.walletBalance, 0n)).toBe(expected);
  });

  it('leaves verifyLedger() without options as it was: the books only', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await ledger.backend.sendMany([{ address: ledger.chain.externalAddress(), amount: 1n * COIN }], { comment: 'outside the ledger' });
    const check = await ledger.app.verifyLedger();
    expect(check).toMatchObject({ ok: true, booksOk: true, nodeAudited: false, problems: [] });
    expect(check.coins[0]!.node).toBeUndefined();
  });

  it('fails with the exact shortfall when a batch is paid a second time outside the ledger', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await queueWithdrawal('main', 'alice', 1_000_000n);
    await queueWithdrawal('main', 'alice', 570_000n);
    const outcome = await btc.broadcastPending('main');
    if (outcome.status !== 'sent') throw new Error(`broadcast ${outcome.status}`);
    expect((await ledger.app.verifyLedger({ node: true })).ok).toBe(true);

    // The incident: the same outputs go out again, and nothing in the books knows.
    const outputs = outcome.withdrawals.map((withdrawal) => ({ address: withdrawal.address!, amount: withdrawal.amount }));
    const again = await ledger.backend.sendMany(outputs, { comment: 'paid twice' });
    const shortfall = 1_570_000n + again.fee;

    const check = await ledger.app.verifyLedger({ node: true });
    expect(check).toMatchObject({ ok: false, booksOk: true });
    expect(check.problems).toEqual([`btc: the node wallet holds ${shortfall} base units less than the ledger expects`]);
    const audit = nodeAuditOf(check);
    expect(audit).toMatchObject({ ok: false, difference: -shortfall, shortfall, unaccounted: 0n });
    expect(audit.explanations.map((item) => [item.kind, item.amount])).toEqual([['shortfall', shortfall]]);
  });

  it('fails when the node wallet pays out of its own accord, by amount plus fee', async () => {
    await deposit('main', 'alice', 3n * COIN, threshold());
    const sent = await ledger.backend.sendMany([{ address: ledger.chain.externalAddress(), amount: 1_578_496n - ledger.chain.feeFor(1) }], {
      comment: 'outside the ledger',
    });
    expect(sent.fee).toBe(ledger.chain.feeFor(1));
    const check = await ledger.app.verifyLedger({ node: true });
    expect(check.problems).toEqual(['btc: the node wallet holds 1578496 base units less than the ledger expects']);
    expect(check.ok).toBe(false);
  });

  it('explains queued withdrawals: debited in the books, still in the node wallet', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await queueWithdrawal('main', 'alice', 2n * COIN);
    const audit = nodeAuditOf(await ledger.app.verifyLedger({ node: true }));
    expect(audit).toMatchObject({ ok: true, nodeBalance: 5n * COIN, difference: 0n, unaccounted: 0n });
    expect(audit.ledger).toMatchObject({ accountsTotal: 3n * COIN, queuedWithdrawals: 2n * COIN, expected: 5n * COIN });
    expect(audit.explanations).toEqual([expect.objectContaining({ kind: 'queued_withdrawals', amount: 2n * COIN, excessUpTo: 0n })]);
  });

  it('explains deposits below the threshold, which the node counts before the ledger credits them', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await deposit('main', 'bob', 40_000_000n, 1);
    await deposit('main', 'carol', 7_000_000n, 0);
    const audit = nodeAuditOf(await ledger.app.verifyLedger({ node: true }));
    expect(audit).toMatchObject({ ok: true, difference: 47_000_000n, shortfall: 0n, unaccounted: 0n });
    expect(audit.ledger).toMatchObject({ creditedDeposits: 5n * COIN, incomingDeposits: 47_000_000n, expected: 5n * COIN });
    expect(audit.explanations).toEqual([
      expect.objectContaining({ kind: 'incoming_deposits', amount: 47_000_000n, excessUpTo: 47_000_000n }),
    ]);
  });

  it('reports money the books never imported as unaccounted, a failure only when asked', async () => {
    await deposit('main', 'alice', 1n * COIN, threshold());
    ledger.chain.fund(ledger.backend, 3n * COIN); // to an address of the node wallet that the ledger does not know
    const check = await ledger.app.verifyLedger({ node: true });
    expect(check).toMatchObject({ ok: true, problems: [] });
    const audit = nodeAuditOf(check);
    expect(audit).toMatchObject({ ok: true, difference: 3n * COIN, unaccounted: 3n * COIN });
    expect(audit.explanations).toEqual([expect.objectContaining({ kind: 'unaccounted', amount: 3n * COIN })]);

    const strict = await ledger.app.verifyLedger({ node: true, unaccountedFails: true });
    expect(strict.ok).toBe(false);
    expect(strict.problems).toEqual([`btc: the node wallet holds ${3n * COIN} base units that the ledger does not account for`]);
  });

  it('attributes only the excess that nothing in the books explains to unaccounted', async () => {
    await deposit('main', 'alice', 1n * COIN, threshold());
    await deposit('main', 'bob', 20_000_000n, 1);
    ledger.chain.fund(ledger.backend, 5_000_000n);
    const audit = nodeAuditOf(await ledger.app.verifyLedger({ node: true }));
    expect(audit).toMatchObject({ ok: true, difference: 25_000_000n, unaccounted: 5_000_000n });
    expect(audit.explanations.map((item) => item.kind)).toEqual(['incoming_deposits', 'unaccounted']);
  });

  it('does not let a deposit below the threshold hide a loss once it is credited', async () => {
    await deposit('main', 'alice', 1n * COIN, threshold());
    const incoming = await deposit('main', 'bob', 2_000_000n, 1);
    const sent = await ledger.backend.sendMany([{ address: ledger.chain.externalAddress(), amount: 1_500_000n }], { comment: 'theft' });
    // While the deposit confirms, the node's excess covers the loss (documented: an excess can hide a loss while it lasts).
    expect(nodeAuditOf(await ledger.app.verifyLedger({ node: true })).ok).toBe(true);
    ledger.chain.mine(threshold() - 1);
    await incoming.record(threshold());
    const check = await ledger.app.verifyLedger({ node: true });
    expect(check.problems).toEqual([`btc: the node wallet holds ${1_500_000n + sent.fee} base units less than the ledger expects`]);
  });

  it('explains a broadcast in doubt that did not leave, and fails one that left until its fee is booked', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await queueWithdrawal('main', 'alice', 1n * COIN);
    // A crash after opening the broadcast, before the node was called.
    const opened = await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast());
    const notLeft = nodeAuditOf(await ledger.app.verifyLedger({ node: true, ...FAST }));
    expect(notLeft).toMatchObject({ ok: true, difference: 1n * COIN, unaccounted: 0n });
    expect(notLeft.ledger).toMatchObject({ inDoubtWithdrawals: 1n * COIN, expected: 4n * COIN });
    expect(notLeft.explanations).toEqual([
      expect.objectContaining({ kind: 'broadcasts_in_doubt', amount: 1n * COIN, excessUpTo: 1n * COIN }),
    ]);
    expect(notLeft.ledger.inDoubtBroadcasts).toEqual([{ id: opened!.broadcast.id, wallet: 'main', state: 'opened' }]);

    // Now it went out (a crash after the node was called): its fee is gone before the books know it.
    const sent = await ledger.backend.sendMany(opened!.outputs, { comment: opened!.broadcast.comment! });
    const left = await ledger.app.verifyLedger({ node: true, ...FAST });
    expect(left.problems).toEqual([`btc: the node wallet holds ${sent.fee} base units less than the ledger expects`]);
    const audit = nodeAuditOf(left);
    expect(audit.readings).toBe(FAST.attempts); // read again, in case the broadcast was closing
    expect(audit.explanations.find((item) => item.kind === 'shortfall')?.text).toContain('unbooked fee of a broadcast in doubt');

    await btc.transaction(async (book) => (await book.wallet('main')).closeBroadcast(opened!.broadcast.id, sent.txid, sent.fee));
    expect(nodeAuditOf(await ledger.app.verifyLedger({ node: true })).difference).toBe(0n);
  });

  it('lets a broadcast that lost to a conflicting transaction explain the money back in the node wallet', async () => {
    await deposit('main', 'alice', 5n * COIN, threshold());
    await queueWithdrawal('main', 'alice', 1n * COIN);
    const outcome = await btc.broadcastPending('main');
    if (outcome.status !== 'sent') throw new Error(`broadcast ${outcome.status}`);
    const fee = outcome.broadcast.fee!;
    ledger.chain.doubleSpend(outcome.broadcast.txid!); // the send is undone: its amount and fee are back
    expect(nodeAuditOf(await ledger.app.verifyLedger({ node: true })).unaccounted).toBe(1n * COIN + fee);

    // Flagged as the confirmation tracking flags it (schema version 2's column).
    await ledger.app.database.transaction('write', (tx) =>
      tx.run(`UPDATE btc_network_transaction SET conflicted = 1 WHERE id = ?`, [outcome.broadcast.id]),
    );
    const audit = nodeAuditOf(await ledger.app.verifyLedger({ node: true }));
    expect(audit).toMatchObject({ ok: true, difference: 1n * COIN + fee, unaccounted: 0n });
    expect(audit.ledger).toMatchObject({
      sentWithdrawals: 0n,
      conflictedWithdrawals: 1n * COIN,
      conflictedFees: fee,
      conflictedBroadcastCount: 1,
    });
    expect(audit.explanations).toEqual([expect.objectContaining({ kind: 'conflicted_broadcasts', amount: 1n * COIN + fee })]);
  });

  it('reads the node again when the books change around the reading', async () => {
    await deposit('main', 'alice', 1n * COIN, threshold());
    const bob = await account('main', 'bob');
    const address = await btc.createReceivingAddress('main', bob);
    let calls = 0;
    // The first reading of the node is taken before a deposit reaches the threshold, and the
    // books credit it before they are read again: compared, the two would show a false shortfall.
    const racing = {
      code: btc.code,
      read: btc.read.bind(btc),
      backend: {
        getBalance: async (minConfirmations: number) => {
          const balance = await ledger.backend.getBalance(minConfirmations);
          if (++calls === 1) {
            const txid = ledger.chain.pay(address.address, 3_000_000n);
            ledger.chain.mine(threshold());
            await btc.transaction((book) =>
              book.recordDeposit({ txid, confirmations: threshold(), outputs: [{ address: address.address, amount: 3_000_000n }] }),
            );
          }
          return balance;
        },
      },
    };
    const audit = checked(await auditCoin(racing, FAST));
    expect(audit).toMatchObject({ ok: true, readings: 2, difference: 0n, nodeBalance: 103_000_000n });
  });

  it('reports a node that cannot be reached as not checked, and the audit as failed', async () => {
    await deposit('main', 'alice', 1n * COIN, threshold());
    ledger.chain.setDown(true);
    try {
      const check = await ledger.app.verifyLedger({ node: true });
      expect(check).toMatchObject({ ok: false, booksOk: true });
      expect(check.coins[0]!.node).toMatchObject({ status: 'unreachable', ok: false });
      expect(check.problems).toHaveLength(1);
      expect(check.problems[0]).toMatch(/^btc: not checked against the node: memory node unreachable/);
    } finally {
      ledger.chain.setDown(false);
    }
  });
});
