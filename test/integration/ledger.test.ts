/**
 * The ledger on both engines: the original's CoinTestCase list and what it lacked. Each test ends
 * with the ledger check (in `finish`).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import {
  AlreadyExists,
  IdempotencyKeyReused,
  InsufficientBalance,
  InvalidAddress,
  InvalidName,
  NotFound,
  SameAccount,
  StaleReading,
} from '../../src/domain/errors.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import { CryptoAssets } from '../../src/app.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { fundAccount, openTestLedger, randomTxid, rowCounts, type TestLedger } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const regtest = BTC.networks.regtest!;
/** A valid regtest address outside our wallet. */
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), regtest);
const EXTERNAL_2 = encodeAddress('p2pkh', new Uint8Array(20).fill(9), regtest);

describe.each(engines)('ledger on %s', (engine) => {
  let ledger: TestLedger;
  let btc: CoinLedger;

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

  async function balanceOf(wallet: string, name: string): Promise<bigint> {
    return btc.read(async (book) => (await (await book.wallet(wallet)).getAccount(name)).balance);
  }

  it('creates a receiving address through the backend, valid for the network and owned by the account', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice, { label: 'first' });
    expect(address.accountId).toBe(alice.id);
    expect(address.label).toBe('first');
    expect(address.address.startsWith('bcrt1')).toBe(true);
    expect(ledger.chain.addressOwner(address.address)).toEqual({ wallet: 'ledger', label: 'first' });
    const owner = await btc.read(async (book) => (await book.wallet('main')).getAccountByAddress(address.address));
    expect(owner?.id).toBe(alice.id);
  });

  it('keeps receiving addresses apart per wallet', async () => {
    const alice = await account('main', 'alice');
    const bob = await account('other', 'bob');
    const a1 = await btc.createReceivingAddress('main', alice);
    const b1 = await btc.createReceivingAddress('other', bob);
    await btc.read(async (book) => {
      const main = await book.wallet('main');
      const other = await book.wallet('other');
      expect((await main.listReceivingAddresses()).map((a) => a.address)).toEqual([a1.address]);
      expect((await other.listReceivingAddresses()).map((a) => a.address)).toEqual([b1.address]);
      expect(await main.getAccountByAddress(b1.address)).toBeUndefined();
      await expect(main.getReceivingAddress(b1.address)).rejects.toBeInstanceOf(NotFound);
      // An account of one wallet cannot be used through another.
      await expect(other.getAccount(alice.id)).rejects.toBeInstanceOf(NotFound);
    });
  });

  it('creates accounts with names unique per wallet', async () => {
    await btc.transaction(async (book) => {
      const main = await book.getOrCreateWallet('main');
      const other = await book.getOrCreateWallet('other');
      const alice = await main.createAccount('alice');
      expect(alice.balance).toBe(0n);
      expect(alice.kind).toBe('user');
      await expect(main.createAccount('alice')).rejects.toBeInstanceOf(AlreadyExists);
      expect((await other.createAccount('alice')).id).not.toBe(alice.id);
      expect((await main.getOrCreateAccount('alice')).id).toBe(alice.id);
      await expect(main.createAccount('Network fees')).rejects.toBeInstanceOf(InvalidName);
      await expect(main.createAccount('')).rejects.toBeInstanceOf(InvalidName);
      await expect(main.createAccount('x'.repeat(256))).rejects.toBeInstanceOf(InvalidName);
      const fees = await main.getNetworkFeeAccount();
      expect(fees.kind).toBe('network_fee');
      expect((await main.getNetworkFeeAccount()).id).toBe(fees.id);
    });
  });

  it('sends internally to an address of the same wallet, off-chain', async () => {
    await fundAccount(ledger, 'main', 'alice', 10_000n);
    const bob = await account('main', 'bob');
    const bobAddress = await btc.createReceivingAddress('main', bob);
    const sent = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.send(await main.getAccount('alice'), bobAddress.address, 2_500n, 'rent');
    });
    expect(sent.type).toBe('internal');
    expect(sent.state).toBe('done');
    expect(sent.amount).toBe(2_500n);
    expect(sent.receivingAccountId).toBe(bob.id);
    expect(sent.address).toBe(bobAddress.address);
    expect(await balanceOf('main', 'alice')).toBe(7_500n);
    expect(await balanceOf('main', 'bob')).toBe(2_500n);
    // The same address forced external is a withdrawal instead.
    const forced = await btc.transaction(async (book) =>
      (await book.wallet('main')).send(await (await book.wallet('main')).getAccount('alice'), bobAddress.address, 1_000n, null, {
        forceExternal: true,
      }),
    );
    expect(forced.type).toBe('withdrawal');
    expect(forced.state).toBe('pending');
  });

  it('refuses a transfer beyond the balance and writes nothing', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000n);
    const bob = await account('main', 'bob');
    const before = await rowCounts(ledger.app);
    const error = await btc
      .transaction(async (book) =>
        (await book.wallet('main')).transfer((await (await book.wallet('main')).getAccount('alice')).id, bob, 1_001n),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientBalance);
    expect((error as InsufficientBalance).balance).toBe(1_000n);
    expect(await rowCounts(ledger.app)).toEqual(before);
    expect(await balanceOf('main', 'alice')).toBe(1_000n);
    // Explicitly allowed, the balance may go negative.
    await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      await main.transfer(await main.getAccount('bob'), await main.getAccount('alice'), 5n, 'house credit', { allowNegativeBalance: true });
    });
    expect(await balanceOf('main', 'bob')).toBe(-5n);
  });

  it('refuses a transfer to the same account', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000n);
    const alice = await account('main', 'alice');
    const address = await btc.read(async (book) => (await (await book.wallet('main')).listReceivingAddresses())[0]!);
    const before = await rowCounts(ledger.app);
    await expect(btc.transaction(async (book) => (await book.wallet('main')).transfer(alice, alice, 1n))).rejects.toBeInstanceOf(
      SameAccount,
    );
    await expect(btc.transaction(async (book) => (await book.wallet('main')).send(alice, address.address, 1n))).rejects.toBeInstanceOf(
      SameAccount,
    );
    expect(await rowCounts(ledger.app)).toEqual(before);
  });

  it('cannot add an address that already exists', async () => {
    const alice = await account('main', 'alice');
    const bob = await account('other', 'bob');
    const address = await btc.createReceivingAddress('main', alice);
    const before = await rowCounts(ledger.app);
    await expect(
      btc.transaction(async (book) => (await book.wallet('main')).addReceivingAddress(alice, address.address)),
    ).rejects.toBeInstanceOf(AlreadyExists);
    await expect(
      btc.transaction(async (book) => (await book.wallet('other')).addReceivingAddress(bob, address.address)),
    ).rejects.toBeInstanceOf(AlreadyExists);
    // Upper-case bech32 is the same address.
    await expect(
      btc.transaction(async (book) => (await book.wallet('main')).addReceivingAddress(alice, address.address.toUpperCase())),
    ).rejects.toBeInstanceOf(AlreadyExists);
    expect(await rowCounts(ledger.app)).toEqual(before);
  });

  it('queues an external send as a pending withdrawal, debited at once', async () => {
    await fundAccount(ledger, 'main', 'alice', 10_000n);
    const withdrawal = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.send(await main.getAccount('alice'), EXTERNAL, '0.00003', 'payout');
    });
    expect(withdrawal).toMatchObject({ type: 'withdrawal', state: 'pending', amount: 3_000n, address: EXTERNAL, txid: null });
    expect(await balanceOf('main', 'alice')).toBe(7_000n);
    const pending = await btc.read(async (book) => (await book.wallet('main')).pendingWithdrawals());
    expect(pending.map((t) => t.id)).toEqual([withdrawal.id]);
    // Another wallet's queue is its own.
    await account('other', 'x');
    expect(await btc.read(async (book) => (await book.wallet('other')).pendingWithdrawals())).toEqual([]);
  });

  it('broadcasts nothing when nothing is queued', async () => {
    await account('main', 'alice');
    expect(await btc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
  });

  it('broadcasts queued withdrawals as one transaction and charges its fee once', async () => {
    ledger.chain.fund(ledger.backend, 1_000_000n);
    ledger.chain.mine(1);
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      const alice = await main.getAccount('alice');
      await main.withdraw(alice, EXTERNAL, 1_000n);
      await main.withdraw(alice, EXTERNAL_2, 2_000n);
      await main.withdraw(alice, EXTERNAL, 3_000n);
    });
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status).toBe('sent');
    if (outcome.status !== 'sent') return;
    expect(outcome.withdrawals.map((w) => w.state)).toEqual(['broadcasted', 'broadcasted', 'broadcasted']);
    expect(new Set(outcome.withdrawals.map((w) => w.txid))).toEqual(new Set([outcome.broadcast.txid]));
    const onChain = ledger.chain.inspect(outcome.broadcast.txid!)!;
    // Two destinations: EXTERNAL's two withdrawals go out as one output of 4,000.
    const paid = onChain.outputs.filter((o) => o.address === EXTERNAL || o.address === EXTERNAL_2);
    expect(paid.map((o) => [o.address, o.amount]).sort()).toEqual(
      [
        [EXTERNAL, 4_000n],
        [EXTERNAL_2, 2_000n],
      ].sort(),
    );
    expect(outcome.broadcast.fee).toBe(onChain.fee);
    const fees = await btc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(fees.balance).toBe(-onChain.fee);
    expect(await btc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
  });

  it('books every broadcast’s fee alike, the wallet’s first fee and the later ones (one statement on PostgreSQL)', async () => {
    ledger.chain.fund(ledger.backend, 1_000_000n);
    ledger.chain.mine(1);
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    const fees: bigint[] = [];
    for (const amount of [1_000n, 2_000n, 3_000n]) {
      await btc.withdraw('main', 'alice', EXTERNAL, amount);
      const outcome = await btc.broadcastPending('main');
      if (outcome.status !== 'sent') throw new Error(`not sent: ${outcome.status}`);
      fees.push(outcome.broadcast.fee!);
    }
    const rows = await ledger.app.database.transaction('read', (tx) =>
      tx.all<Record<string, unknown>>(
        `SELECT t.state, t.amount, t.label, t.network_transaction_id, t.sending_account_id, t.receiving_account_id, t.address_id,
                t.idempotency_key, t.credited_at IS NOT NULL AS credited, e.account_id, e.kind, e.amount AS entry_amount
         FROM btc_transaction t JOIN btc_entry e ON e.transaction_id = t.id WHERE t.type = 'network_fee' ORDER BY t.id`,
      ),
    );
    const account = await btc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    const broadcasts = rows.map((row) => Number(row.network_transaction_id));
    expect(rows.map((row) => ({ ...row, network_transaction_id: undefined, credited: Boolean(row.credited) }))).toEqual(
      fees.map((fee, i) => ({
        state: 'done',
        amount: fee,
        label: `network fee of broadcast ${broadcasts[i]}`,
        network_transaction_id: undefined,
        sending_account_id: BigInt(account.id),
        receiving_account_id: null,
        address_id: null,
        idempotency_key: null,
        credited: true,
        account_id: BigInt(account.id),
        kind: 'network_fee',
        entry_amount: -fee,
      })),
    );
    expect(new Set(broadcasts).size).toBe(3);
    expect(account.balance).toBe(-(fees[0]! + fees[1]! + fees[2]!));
    expect((await ledger.app.verifyLedger()).ok).toBe(true);
  });

  /** The txupdate changes written for one transaction, in order. */
  async function changesOf(transactionId: number): Promise<string[]> {
    return ledger.app.database.transaction('read', async (tx) => {
      const rows = await tx.all<{ payload: string }>(
        `SELECT payload FROM cryptoassets_event WHERE transaction_id = ? AND transaction_type = 'withdrawal' ORDER BY id`,
        [transactionId],
      );
      return rows.map((row) => (JSON.parse(row.payload) as { change: string }).change);
    });
  }

  it('returns withdrawals to the queue quietly while the node is down, and sends them once it answers', async () => {
    ledger.chain.fund(ledger.backend, 1_000_000n);
    ledger.chain.mine(1);
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    const withdrawal = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.withdraw(await main.getAccount('alice'), EXTERNAL, 1_000n);
    });
    ledger.chain.setDown(true);
    for (let round = 0; round < 3; round++) expect((await btc.broadcastPending('main')).status).toBe('returned');
    const pending = await btc.read(async (book) => (await book.wallet('main')).pendingWithdrawals());
    expect(pending.map((w) => w.id)).toEqual([withdrawal.id]);
    ledger.chain.setDown(false);
    expect((await btc.broadcastPending('main')).status).toBe('sent');
    // One event per state change, never one per attempt.
    expect(await changesOf(withdrawal.id)).toEqual(['queued', 'broadcasting', 'broadcasted']);
  });

  it('isolates a withdrawal the node refuses alone and sends the rest of its batch in the same round', async () => {
    ledger.chain.fund(ledger.backend, 1_000_000n);
    ledger.chain.mine(1);
    await fundAccount(ledger, 'main', 'alice', 100_000_000n);
    const ids = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      const alice = await main.getAccount('alice');
      const made = [];
      for (let i = 0; i < 7; i++) made.push(await main.withdraw(alice, i % 2 ? EXTERNAL : EXTERNAL_2, 1_000n + BigInt(i)));
      // More than the node wallet holds: refused alone, whatever it is batched with.
      made.push(await main.withdraw(alice, EXTERNAL, 50_000_000n));
      return made.map((w) => w.id);
    });
    const outcome = await btc.broadcastPending('main');
    if (outcome.status !== 'isolated') throw new Error(`expected isolated, got ${outcome.status}`);
    expect(outcome.refused.map((w) => w.id)).toEqual([ids[7]]);
    expect(outcome.refused[0]!.refusal).toMatch(/insufficient_funds/);
    expect(outcome.sent.flatMap((s) => s.withdrawals.map((w) => w.id)).sort((x, y) => x - y)).toEqual(ids.slice(0, 7));
    expect(outcome.stopped).toBeUndefined();
    expect(await btc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
    expect(await changesOf(ids[7]!)).toEqual(['queued', 'broadcasting', 'refused']);
    expect(await changesOf(ids[0]!)).toEqual(['queued', 'broadcasting', 'broadcasted']);
    // Each withdrawal was paid exactly once on chain.
    const paid = outcome.sent
      .flatMap((one) => ledger.chain.inspect(one.broadcast.txid!)!.outputs)
      .filter((o) => o.address === EXTERNAL || o.address === EXTERNAL_2);
    expect(paid.reduce((sum, o) => sum + o.amount, 0n)).toBe(7_021n);
    // An operator funds the node wallet and retries it: it goes out in the next round.
    ledger.chain.fund(ledger.backend, 100_000_000n);
    ledger.chain.mine(1);
    await btc.transaction(async (book) => (await book.wallet('main')).retryWithdrawal(ids[7]!));
    expect((await btc.broadcastPending('main')).status).toBe('sent');
    expect(await changesOf(ids[7]!)).toEqual(['queued', 'broadcasting', 'refused', 'requeued', 'broadcasted']);
  });

  it('counts a refused withdrawal as still in the node wallet when importing the balance', async () => {
    // The node wallet holds 100,000, all of it the house's; a withdrawal of 150,000 is refused.
    ledger.chain.fund(ledger.backend, 100_000n);
    ledger.chain.mine(3);
    const house = await account('main', 'house');
    expect((await btc.importBalance('main', house)).imported).toBe(100_000n);
    await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      await main.withdraw(house, EXTERNAL, 60_000n);
      await main.withdraw(house, EXTERNAL_2, 40_000n);
    });
    // Together more than the node holds: the 60,000 one goes out alone, the 40,000 one is refused.
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status === 'isolated' && outcome.refused.map((w) => w.amount)).toEqual([40_000n]);
    // One base unit arrives from outside: the only money a second import may book. The refused
    // withdrawal's 40,000 is still in the node wallet, and still owed to its destination.
    ledger.chain.fund(ledger.backend, 1n);
    ledger.chain.mine(3);
    const again = await btc.importBalance('main', house);
    expect(again.imported).toBe(1n);
    const audit = await ledger.app.verifyLedger({ node: true });
    expect(audit.problems).toEqual([]);
  });

  it('cancels a refused or pending withdrawal with a refund entry, and refuses to cancel one that left', async () => {
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    const [queued, refused] = await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      const alice = await main.getAccount('alice');
      return [await main.withdraw(alice, EXTERNAL, 1_000n), await main.withdraw(alice, EXTERNAL_2, 2_000n)];
    });
    // The node wallet is empty: the batch of two is split, each refused alone.
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status === 'isolated' && outcome.refused.map((w) => w.id).sort()).toEqual([queued.id, refused.id].sort());
    await btc.transaction(async (book) => (await book.wallet('main')).retryWithdrawal(queued.id));
    for (const id of [queued.id, refused.id]) {
      const cancelled = await btc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(id));
      expect(cancelled.state).toBe('cancelled');
    }
    expect(await balanceOf('main', 'alice')).toBe(100_000n);
    const history = await btc.read(async (book) => {
      const main = await book.wallet('main');
      return main.accountHistory(await main.getAccount('alice'));
    });
    expect(
      history
        .filter((e) => e.kind === 'withdrawal_refund')
        .map((e) => e.amount)
        .sort(),
    ).toEqual([1_000n, 2_000n]);
    const again = await btc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(queued.id)).catch((e: unknown) => e);
    expect((again as { code?: string }).code).toBe('invalid_state');
    expect(await changesOf(refused.id)).toEqual(['queued', 'broadcasting', 'refused', 'cancelled']);
    expect((await ledger.app.verifyLedger()).ok).toBe(true);
  });

  it('leaves a broadcast open when its outcome is unknown, and never resends it', async () => {
    ledger.chain.fund(ledger.backend, 1_000_000n);
    ledger.chain.mine(1);
    await fundAccount(ledger, 'main', 'alice', 100_000n);
    await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      await main.withdraw(await main.getAccount('alice'), EXTERNAL, 1_000n);
    });
    ledger.chain.failNext('sendMany', 'garbage');
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status).toBe('interrupted');
    expect(await btc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
    const open = await btc.read(async (book) => (await book.wallet('main')).listBroadcasts());
    expect(open.map((b) => b.state)).toEqual(['opened']);
    expect(open[0]!.comment).toMatch(/^cryptoassets btc broadcast \d+ [0-9a-f]{12}$/);
  });

  it('credits a spoofed deposit only at the threshold, and only once', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    const txid = randomTxid();
    const report = (confirmations: number) =>
      btc.transaction((book) => book.recordDeposit({ txid, confirmations, outputs: [{ address: address.address, amount: 5_000n }] }));

    const [atMinusOne] = await report(-1);
    expect(atMinusOne).toMatchObject({ credited: false, conflicted: true, change: 'created' });
    const [atZero] = await report(0);
    expect(atZero).toMatchObject({ credited: false, conflicted: false, change: 'confirmations' });
    expect(await balanceOf('main', 'alice')).toBe(0n);
    expect(await btc.read(async (book) => (await book.wallet('main')).unconfirmedBalance(alice))).toBe(5_000n);
    const [atTwo] = await report(2);
    expect(atTwo!.credited).toBe(false);
    const [atThree] = await report(3);
    expect(atThree).toMatchObject({ credited: true, change: 'credited' });
    expect(atThree!.transaction.state).toBe('credited');
    expect(atThree!.transaction.creditedAt).toBeInstanceOf(Date);
    for (const [confirmations, change] of [
      [3, 'unchanged'],
      [4, 'confirmations'],
      [15, 'confirmations'],
      [15, 'unchanged'],
    ] as const) {
      const [again] = await report(confirmations);
      expect(again).toMatchObject({ credited: true, change });
    }
    expect(await balanceOf('main', 'alice')).toBe(5_000n);
    expect(await btc.read(async (book) => (await book.wallet('main')).unconfirmedBalance(alice))).toBe(0n);
    const deposits = await btc.read(async (book) => (await book.wallet('main')).deposits());
    expect(deposits).toHaveLength(1);
    expect(deposits[0]).toMatchObject({ txid, amount: 5_000n, address: address.address, receivingAccountId: alice.id });
  });

  it('ignores outputs that are not ours and writes nothing for a transaction with none', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    const before = await rowCounts(ledger.app);
    expect(
      await btc.transaction((book) =>
        book.recordDeposit({ txid: randomTxid(), confirmations: 5, outputs: [{ address: EXTERNAL, amount: 1n }] }),
      ),
    ).toEqual([]);
    expect(await rowCounts(ledger.app)).toEqual(before);
    const updates = await btc.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: 3,
        outputs: [
          { address: EXTERNAL, amount: 1_000n },
          { address: address.address, amount: 700n },
          { address: address.address, amount: 300n },
          { address: 'not an address', amount: 5n },
        ],
      }),
    );
    expect(updates).toHaveLength(1);
    expect(updates[0]!.transaction.amount).toBe(1_000n);
    expect(await balanceOf('main', 'alice')).toBe(1_000n);
  });

  it('credits one transaction paying addresses of several accounts and wallets', async () => {
    const alice = await account('main', 'alice');
    const bob = await account('main', 'bob');
    const carol = await account('other', 'carol');
    const [a, b, c] = [
      await btc.createReceivingAddress('main', alice),
      await btc.createReceivingAddress('main', bob),
      await btc.createReceivingAddress('other', carol),
    ];
    const updates = await btc.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: 6,
        outputs: [
          { address: a.address, amount: 1n },
          { address: b.address, amount: 2n },
          { address: c.address, amount: 3n },
        ],
      }),
    );
    expect(updates.map((u) => [u.transaction.receivingAccountId, u.transaction.amount, u.credited])).toEqual([
      [alice.id, 1n, true],
      [bob.id, 2n, true],
      [carol.id, 3n, true],
    ]);
    expect(await balanceOf('other', 'carol')).toBe(3n);
  });

  it('reverses a credited deposit that loses its confirmations or is conflicted, with new entries', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    const txid = randomTxid();
    const report = async (confirmations: number) =>
      (
        await btc.transaction((book) =>
          book.recordDeposit({ txid, confirmations, outputs: [{ address: address.address, amount: 8_000n }] }),
        )
      )[0]!;
    await report(3);
    expect(await balanceOf('main', 'alice')).toBe(8_000n);
    expect((await report(0)).change).toBe('reversed');
    expect(await balanceOf('main', 'alice')).toBe(0n);
    expect((await report(4)).change).toBe('credited');
    expect(await balanceOf('main', 'alice')).toBe(8_000n);
    const conflicted = await report(-2);
    expect(conflicted).toMatchObject({ change: 'reversed', conflicted: true, credited: false });
    expect(await balanceOf('main', 'alice')).toBe(0n);
    const history = await btc.read(async (book) => (await book.wallet('main')).accountHistory(alice));
    expect(history.map((e) => [e.kind, e.amount])).toEqual([
      ['deposit_reversal', -8_000n],
      ['deposit_credit', 8_000n],
      ['deposit_reversal', -8_000n],
      ['deposit_credit', 8_000n],
    ]);
  });

  it('marks a deposit processed, and keeps tracking it afterwards', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    const txid = randomTxid();
    const [first] = await btc.transaction((book) =>
      book.recordDeposit({ txid, confirmations: 1, outputs: [{ address: address.address, amount: 50n }] }),
    );
    const processed = await btc.transaction(async (book) => (await book.wallet('main')).markProcessed(first!.transaction.id));
    expect(processed.processedAt).toBeInstanceOf(Date);
    // The original failed an assertion here and stopped updating every later transaction.
    const [later] = await btc.transaction((book) =>
      book.recordDeposit({ txid, confirmations: 5, outputs: [{ address: address.address, amount: 50n }] }),
    );
    expect(later).toMatchObject({ credited: true, change: 'credited' });
    expect(later!.transaction.processedAt).toEqual(processed.processedAt);
    await expect(
      btc.transaction(async (book) =>
        (await book.wallet('other').catch(() => book.getOrCreateWallet('other'))).markProcessed(first!.transaction.id),
      ),
    ).rejects.toBeInstanceOf(NotFound);
  });

  it('refuses a bad address with a typed error and writes nothing', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000n);
    const before = await rowCounts(ledger.app);
    const mainnet = encodeAddress('p2wpkh', new Uint8Array(20).fill(1), BTC.networks.mainnet!);
    for (const bad of ['', 'hello', mainnet, `${EXTERNAL.slice(0, -1)}x`, '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa']) {
      const error = await btc
        .transaction(async (book) => {
          const main = await book.wallet('main');
          return main.send(await main.getAccount('alice'), bad, 10n);
        })
        .catch((e: unknown) => e);
      expect(error, bad).toBeInstanceOf(InvalidAddress);
    }
    expect(await rowCounts(ledger.app)).toEqual(before);
  });

  it('makes automatic labels unique', async () => {
    const alice = await account('main', 'alice');
    const addresses = [];
    for (let i = 0; i < 10; i++) addresses.push(await btc.createReceivingAddress('main', alice));
    expect(new Set(addresses.map((a) => a.label)).size).toBe(10);
    expect(new Set(addresses.map((a) => a.address)).size).toBe(10);
    await btc.createReceivingAddress('main', alice, { label: 'mine' });
    await expect(btc.createReceivingAddress('main', alice, { label: 'mine' })).rejects.toBeInstanceOf(AlreadyExists);
  });

  it('archives and unarchives addresses; archived ones still receive', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    await btc.transaction(async (book) => (await book.wallet('main')).archiveAddress(address.address));
    await btc.read(async (book) => {
      const main = await book.wallet('main');
      expect(await main.listReceivingAddresses()).toEqual([]);
      expect((await main.listReceivingAddresses({ archived: true })).map((a) => a.address)).toEqual([address.address]);
    });
    await btc.transaction((book) =>
      book.recordDeposit({ txid: randomTxid(), confirmations: 3, outputs: [{ address: address.address, amount: 9n }] }),
    );
    expect(await balanceOf('main', 'alice')).toBe(9n);
    await btc.transaction(async (book) => (await book.wallet('main')).unarchiveAddress(address.address));
    expect(await btc.read(async (book) => (await (await book.wallet('main')).listReceivingAddresses()).length)).toBe(1);
  });

  it('lists deposits, unconfirmed deposits and received amounts by confirmations', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    for (const [confirmations, amount] of [
      [0, 10n],
      [1, 20n],
      [3, 40n],
      [10, 80n],
    ] as const) {
      await btc.transaction((book) =>
        book.recordDeposit({ txid: randomTxid(), confirmations, outputs: [{ address: address.address, amount }] }),
      );
    }
    await btc.read(async (book) => {
      const main = await book.wallet('main');
      expect((await main.deposits()).map((d) => d.amount)).toEqual([10n, 20n, 40n, 80n]);
      expect((await main.unconfirmedDeposits()).map((d) => d.amount)).toEqual([10n, 20n]);
      expect(await main.unconfirmedBalance(alice)).toBe(30n);
      expect(await main.receivedByConfirmations({ account: alice }, 0)).toBe(150n);
      expect(await main.receivedByConfirmations({ address: address.address }, 3)).toBe(120n);
      expect(await main.receivedByConfirmations({ account: alice }, 11)).toBe(0n);
    });
    expect(await balanceOf('main', 'alice')).toBe(120n);
  });

  it('imports the backend balance once', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    // Coins in the wallet before the ledger: sent to an address the ledger does not know.
    ledger.chain.fund(ledger.backend, 70_000n);
    // And a deposit the ledger missed: the import must credit it as a deposit, not swallow it.
    ledger.chain.pay(address.address, 5_000n);
    ledger.chain.mine(3);
    const house = await account('main', 'house');
    const first = await btc.importBalance('main', house);
    expect(first.imported).toBe(70_000n);
    expect(await balanceOf('main', 'alice')).toBe(5_000n);
    expect(await balanceOf('main', 'house')).toBe(70_000n);
    const second = await btc.importBalance('main', house);
    expect(second.imported).toBe(0n);
    expect(await balanceOf('main', 'house')).toBe(70_000n);
  });

  it('imports nothing for a refused withdrawal: the node wallet still holds its money', async () => {
    const house = await account('main', 'house');
    ledger.chain.fund(ledger.backend, 70_000n);
    ledger.chain.mine(2);
    expect((await btc.importBalance('main', house)).imported).toBe(70_000n);
    // More than the node holds: refused alone, still debited, waiting for an operator.
    const withdrawal = await btc.transaction(async (book) =>
      (await book.wallet('main')).withdraw(house, EXTERNAL, 1_000_000n, null, { allowNegativeBalance: true }),
    );
    const outcome = await btc.broadcastPending('main');
    expect(outcome.status === 'isolated' && outcome.refused.map((w) => w.id)).toEqual([withdrawal.id]);
    const again = await btc.importBalance('main', house);
    expect(again).toMatchObject({ imported: 0n, backendBalance: 70_000n, expectedBalance: 70_000n });
    expect(await balanceOf('main', 'house')).toBe(-930_000n);
  });

  it('refuses an import while a broadcast changes between the balance read and the booking', async () => {
    const house = await account('main', 'house');
    ledger.chain.fund(ledger.backend, 70_000n);
    await btc.transaction(async (book) => {
      const wallet = await book.wallet('main');
      await wallet.importUnaccountedBalance(house, 50_000n, 'earlier import');
      await wallet.withdraw(house, EXTERNAL, 1_000n);
    });
    const backend = ledger.backend;
    // As if the service broadcast right after the node answered the balance.
    const racing = Object.assign(Object.create(backend) as typeof backend, {
      getBalance: async (minConfirmations: number) => {
        const balance = await backend.getBalance(minConfirmations);
        await ledger.app.coin('btc').broadcastPending('main');
        return balance;
      },
    });
    const app = await CryptoAssets.open({ database: ledger.app.database, coins: [{ coin: BTC, network: regtest, backend: racing }] });
    const error = await app
      .coin('btc')
      .importBalance('main', house)
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('invalid_state');
    expect((error as Error).message).toContain('run the import again');
    expect(await balanceOf('main', 'house')).toBe(49_000n);
  });

  it('returns the first result for a repeated idempotency key and refuses a different request under it', async () => {
    await fundAccount(ledger, 'main', 'alice', 10_000n);
    const bob = await account('main', 'bob');
    const withdraw = (amount: bigint, address = EXTERNAL) =>
      btc.transaction(async (book) => {
        const main = await book.wallet('main');
        return main.send(await main.getAccount('alice'), address, amount, null, { idempotencyKey: 'payout-1' });
      });
    const first = await withdraw(1_000n);
    const again = await withdraw(1_000n);
    expect(again.id).toBe(first.id);
    expect(await balanceOf('main', 'alice')).toBe(9_000n);
    await expect(withdraw(1_001n)).rejects.toBeInstanceOf(IdempotencyKeyReused);
    await expect(withdraw(1_000n, EXTERNAL_2)).rejects.toBeInstanceOf(IdempotencyKeyReused);
    const transfer = (amount: bigint) =>
      btc.transaction(async (book) => {
        const main = await book.wallet('main');
        return main.transfer(await main.getAccount('alice'), bob, amount, null, { idempotencyKey: 'move-1' });
      });
    expect((await transfer(5n)).id).toBe((await transfer(5n)).id);
    await expect(transfer(6n)).rejects.toBeInstanceOf(IdempotencyKeyReused);
    expect(await balanceOf('main', 'alice')).toBe(8_995n);
  });

  it('refuses every kind of bad input with its typed error and writes nothing', async () => {
    await fundAccount(ledger, 'main', 'alice', 10_000n);
    const bob = await account('main', 'bob');
    const aliceAddress = await btc.read(async (book) => (await (await book.wallet('main')).listReceivingAddresses())[0]!.address);
    const txid = randomTxid();
    await btc.transaction((book) => book.recordDeposit({ txid, confirmations: 1, outputs: [{ address: aliceAddress, amount: 10n }] }));
    const withdraw = (amount: unknown, label: string | null = null, key?: string) =>
      btc.transaction(async (book) => {
        const main = await book.wallet('main');
        return main.withdraw(
          await main.getAccount('alice'),
          EXTERNAL,
          amount as bigint,
          label,
          key === undefined ? {} : { idempotencyKey: key },
        );
      });
    const queued = await withdraw(1_000n);
    const cases: [string, () => Promise<unknown>, string][] = [
      ['zero amount', () => withdraw(0n), 'invalid_amount'],
      ['negative amount', () => withdraw(-5n), 'invalid_amount'],
      ['negative transfer', () => btc.transaction(async (book) => (await book.wallet('main')).transfer(bob, 1, -1n)), 'invalid_amount'],
      ['over-precise text', () => withdraw('0.000000001'), 'invalid_amount'],
      ['non-numeric text', () => withdraw('ten'), 'invalid_amount'],
      ['a float', () => withdraw(0.5), 'invalid_amount'],
      ['beyond max money', () => withdraw(BTC.maxMoney + 1n), 'invalid_amount'],
      ['below the dust minimum', () => withdraw(545n), 'invalid_amount'],
      ['label too long', () => withdraw(1n, 'x'.repeat(256)), 'invalid_name'],
      ['empty idempotency key', () => withdraw(1n, null, ''), 'invalid_name'],
      ['unknown account', () => btc.transaction(async (book) => (await book.wallet('main')).transfer(99_999, bob, 1n)), 'not_found'],
      ['unknown wallet', () => btc.transaction(async (book) => book.wallet('nope')), 'not_found'],
      [
        'malformed txid',
        () => btc.transaction((book) => book.recordDeposit({ txid: 'abc', confirmations: 1, outputs: [] })),
        'invalid_txid',
      ],
      [
        'negative deposit output',
        () =>
          btc.transaction((book) =>
            book.recordDeposit({ txid: randomTxid(), confirmations: 1, outputs: [{ address: aliceAddress, amount: -1n }] }),
          ),
        'invalid_amount',
      ],
      [
        'fractional confirmations',
        () =>
          btc.transaction((book) =>
            book.recordDeposit({ txid: randomTxid(), confirmations: 1.5, outputs: [{ address: aliceAddress, amount: 1n }] }),
          ),
        'invalid_deposit',
      ],
      [
        'a recorded deposit reported with another amount',
        () => btc.transaction((book) => book.recordDeposit({ txid, confirmations: 5, outputs: [{ address: aliceAddress, amount: 11n }] })),
        'invalid_deposit',
      ],
      [
        'marking a withdrawal processed',
        () => btc.transaction(async (book) => (await book.wallet('main')).markProcessed(queued.id)),
        'invalid_state',
      ],
      [
        'marking an unknown transaction processed',
        () => btc.transaction(async (book) => (await book.wallet('main')).markProcessed(999_999)),
        'not_found',
      ],
    ];
    const before = await rowCounts(ledger.app);
    for (const [name, attempt, code] of cases) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as { code?: string } | undefined)?.code, name).toBe(code);
    }
    expect(await rowCounts(ledger.app)).toEqual(before);
    expect(await balanceOf('main', 'alice')).toBe(9_000n);
  });

  it('refuses a reading begun before a newer one of the tip the chain went back to', async () => {
    const alice = await account('main', 'alice');
    const address = await btc.createReceivingAddress('main', alice);
    const txid = ledger.chain.pay(address.address, 50_000n);
    ledger.chain.mine(2);
    await btc.syncWithChain(); // the register's tip: the deposit has 2 confirmations there
    ledger.chain.mine(1);
    const { seq: ticket } = await btc.read((book) => book.readingRegister());
    const older = await ledger.backend.readTransactions([txid]); // 3 confirmations
    // The node is read again at the fork point of a reorganisation: the register's own tip.
    ledger.chain.reorg(1);
    await btc.syncWithChain();
    const error = await btc.transaction((book) => book.applyReading(older, ticket)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleReading);
    expect(ledger.chain.inspect(txid)!.confirmations).toBe(2);
    expect(await balanceOf('main', 'alice')).toBe(0n);
  });

  it('scans received transactions page by page when the history is too large for one answer', async () => {
    const alice = await account('main', 'alice');
    const addresses = [];
    for (let i = 0; i < 7; i++) addresses.push(await btc.createReceivingAddress('main', alice));
    for (const [i, address] of addresses.entries()) ledger.chain.pay(address.address, BigInt(1_000 + i));
    ledger.chain.mine(3);
    // Answers of more than 5 transactions are refused (answer_too_large): read in pages of 3.
    ledger.chain.setAnswerCap(5);
    const pages: number[] = [];
    const result = await btc.scanReceived({ pageSize: 3, onPage: (scanned) => pages.push(scanned) });
    expect(pages).toEqual([3, 6, 7]);
    expect(result.transactions).toBe(7);
    expect(result.updates.filter((u) => u.change === 'credited')).toHaveLength(7);
    expect(await balanceOf('main', 'alice')).toBe(7_021n);
    // The cursor moved to the tip read before the first page: the next sync reads only changes.
    const register = await btc.read((book) => book.readingRegister());
    expect(register.cursor).toEqual(await ledger.backend.chainTip());
    ledger.chain.setAnswerCap(null);
    const again = await btc.syncWithChain();
    expect(again.inParts).toBe(false);
    expect(again.updates).toHaveLength(0);
  });

  it('pages through an account history', async () => {
    await fundAccount(ledger, 'main', 'alice', 1_000n);
    const bob = await account('main', 'bob');
    await btc.transaction(async (book) => {
      const main = await book.wallet('main');
      const alice = await main.getAccount('alice');
      for (let i = 1; i <= 5; i++) await main.transfer(alice, bob, BigInt(i), `t${i}`);
    });
    const page1 = await btc.read(async (book) => (await book.wallet('main')).accountHistory(bob, { limit: 2 }));
    const page2 = await btc.read(async (book) => (await book.wallet('main')).accountHistory(bob, { limit: 2, beforeId: page1.at(-1)!.id }));
    const page3 = await btc.read(async (book) => (await book.wallet('main')).accountHistory(bob, { limit: 2, beforeId: page2.at(-1)!.id }));
    expect([...page1, ...page2, ...page3].map((e) => e.label)).toEqual(['t5', 't4', 't3', 't2', 't1']);
  });
});
