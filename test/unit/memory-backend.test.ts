import { describe, expect, it } from 'vitest';
import { MemoryChain, type MemoryBackend, type MemoryCall, type MemoryMethod } from '../../src/backends/memory/index.js';
import { validateAddress } from '../../src/domain/address.js';
import { BTC, DOGE } from '../../src/domain/coins.js';
import { ANSWER_TOO_LARGE, DEADLINE_PASSED, type ChainTip } from '../../src/backends/backend.js';
import { BackendError, InvalidTxid, NotFound } from '../../src/domain/errors.js';

const regtest = BTC.networks.regtest!;
const COIN = 100_000_000n;

function setup(options: { feeBase?: bigint; feePerOutput?: bigint; now?: () => number; answerCap?: number } = {}) {
  const chain = new MemoryChain({ network: regtest, ...options });
  const wallet = chain.createWallet('ours');
  return { chain, wallet };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

async function receivedTxids(backend: MemoryBackend, pageSize = 100): Promise<string[]> {
  const txids: string[] = [];
  let next: string | null = null;
  do {
    const page = await backend.listReceived(next, pageSize);
    txids.push(...page.transactions.map((tx) => tx.txid));
    next = page.next;
  } while (next !== null);
  return txids;
}

describe('MemoryChain addresses and ids', () => {
  it('makes valid, distinct addresses of the network and keeps their labels', async () => {
    const { chain, wallet } = setup();
    const a = await wallet.createAddress('alice');
    const b = await wallet.createAddress('bob');
    expect(a).toMatch(/^bcrt1q[02-9ac-hj-np-z]{38}$/);
    expect(validateAddress(a, regtest)).toMatchObject({ ok: true, kind: 'p2wpkh', address: a });
    expect(a).not.toBe(b);
    expect(chain.addressOwner(a)).toEqual({ wallet: 'ours', label: 'alice' });
    expect(chain.addressOwner(b.toUpperCase())).toEqual({ wallet: 'ours', label: 'bob' });
    expect(chain.addressOwner(chain.externalAddress())).toBeUndefined();
  });

  it('makes base58 P2PKH addresses on networks without segwit', async () => {
    const chain = new MemoryChain({ network: DOGE.networks.mainnet! });
    const address = await chain.createWallet('w').createAddress('x');
    expect(address.startsWith('D')).toBe(true);
    expect(validateAddress(address, DOGE.networks.mainnet!)).toMatchObject({ ok: true, kind: 'p2pkh' });
  });

  it('is deterministic: the same seed and calls give the same addresses, txids, hashes and readings', async () => {
    const run = async (seed?: string) => {
      const chain = new MemoryChain(seed === undefined ? { network: regtest } : { network: regtest, seed });
      const wallet = chain.createWallet('w');
      // A hook that yields makes every call wait, as in a simulation; ids must not depend on it.
      chain.setCallHook(async () => {
        await new Promise((resolve) => setImmediate(resolve));
      });
      const address = await wallet.createAddress('x');
      const txid = chain.pay(address, 5n);
      const [hash] = chain.mine();
      chain.fund(wallet, COIN);
      const sent = await wallet.sendMany([{ address: chain.externalAddress(), amount: 1000n }], { comment: 'd' });
      chain.mine(2);
      const cursor = await wallet.chainTip();
      chain.reorg(2);
      const conflict = chain.doubleSpend(txid);
      const mined = chain.mineEmpty(3);
      const changes = await wallet.changesSince(cursor, 1);
      return { address, txid, hash, sent, conflict, mined, tip: chain.tip, changes };
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first.txid).toMatch(/^[0-9a-f]{64}$/);
    for (const hash of [first.hash, ...first.mined, first.tip.hash]) expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.changes.removed.length).toBeGreaterThan(0);
    const other = await run('another seed');
    expect(other.address).not.toBe(first.address);
    expect(other.txid).not.toBe(first.txid);
    expect(other.tip.hash).not.toBe(first.tip.hash);
  });

  it('refuses duplicate wallet names; openWallet gives a new handle on the same wallet', async () => {
    const { chain, wallet } = setup();
    expect(() => chain.createWallet('ours')).toThrow(/already has a wallet/);
    expect(() => chain.openWallet('nobody')).toThrow(/no wallet/);
    chain.fund(wallet, 7n * COIN);
    await wallet.close();
    expect(await errorOf(wallet.getBalance(0))).toMatchObject({ code: 'backend_closed', retryable: false });
    const reopened = chain.openWallet('ours');
    expect(await reopened.getBalance(1)).toBe(7n * COIN);
  });
});

describe('MemoryChain payments and confirmations', () => {
  it('puts the outside payer change at vout 0, our outputs after it, and counts confirmations', async () => {
    const { chain, wallet } = setup();
    const a = await wallet.createAddress('a');
    const b = await wallet.createAddress('b');
    const other = chain.externalAddress();
    const txid = chain.payMany([
      { address: a, amount: 10n },
      { address: other, amount: 20n },
      { address: b, amount: 30n },
    ]);
    const pending = await wallet.getTransaction(txid);
    expect(pending).toEqual({
      txid,
      confirmations: 0,
      received: [
        { address: a, amount: 10n, vout: 1 },
        { address: b, amount: 30n, vout: 3 },
      ],
      sent: [],
      fee: 0n,
    });
    expect(chain.mempool).toEqual([txid]);
    expect(chain.height).toBe(0);

    const [hash] = chain.mine(1);
    expect(chain.height).toBe(1);
    expect(await wallet.getTransaction(txid)).toMatchObject({ confirmations: 1, blockHash: hash, blockHeight: 1 });
    chain.mine(4);
    expect(await wallet.getTransaction(txid)).toMatchObject({ confirmations: 5, blockHash: hash, blockHeight: 1 });
    expect(chain.mempool).toEqual([]);
  });

  it('accepts uppercase txids, refuses malformed ones, and hides transactions of other wallets', async () => {
    const { chain, wallet } = setup();
    const stranger = chain.createWallet('stranger');
    const txid = chain.pay(await wallet.createAddress('x'), 5n);
    expect((await wallet.getTransaction(txid.toUpperCase())).txid).toBe(txid);
    expect(await errorOf(stranger.getTransaction(txid))).toBeInstanceOf(NotFound);
    expect(await errorOf(wallet.getTransaction('f'.repeat(64)))).toBeInstanceOf(NotFound);
    for (const bad of ['', 'xyz', 'f'.repeat(63), 'g'.repeat(64), ` ${'f'.repeat(63)}`]) {
      expect(await errorOf(wallet.getTransaction(bad))).toBeInstanceOf(InvalidTxid);
    }
  });

  it('shows a payment between two wallets as sent (with fee and comment) on one side, received on the other', async () => {
    const { chain, wallet: alice } = setup();
    const bob = chain.createWallet('bob');
    chain.fund(alice, COIN);
    const to = await bob.createAddress('from alice');
    const result = await alice.sendMany([{ address: to, amount: 1000n }], { comment: 'withdrawal 42' });
    expect(result.fee).toBe(2000n);
    expect(await alice.getTransaction(result.txid)).toEqual({
      txid: result.txid,
      confirmations: 0,
      received: [],
      sent: [{ address: to, amount: 1000n, vout: 0 }],
      fee: 2000n,
      comment: 'withdrawal 42',
    });
    expect(await bob.getTransaction(result.txid)).toEqual({
      txid: result.txid,
      confirmations: 0,
      received: [{ address: to, amount: 1000n, vout: 0 }],
      sent: [],
      fee: 0n,
    });
    expect(await alice.getBalance(0)).toBe(COIN - 3000n);
    expect(await bob.getBalance(0)).toBe(1000n);
    expect(await bob.getBalance(1)).toBe(0n);
  });
});

describe('MemoryBackend.sendMany', () => {
  it('charges the fee once per transaction: feeBase + feePerOutput × outputs', async () => {
    const { chain, wallet } = setup({ feeBase: 500n, feePerOutput: 250n });
    chain.fund(wallet, 100_000n);
    const outputs = [1000n, 2000n, 3000n].map((amount) => ({ address: chain.externalAddress(), amount }));
    const result = await wallet.sendMany(outputs, { comment: 'batch' });
    expect(result.fee).toBe(1250n);
    const info = await wallet.getTransaction(result.txid);
    expect(info.fee).toBe(1250n);
    expect(info.sent.map((output) => [output.amount, output.vout])).toEqual([
      [1000n, 0],
      [2000n, 1],
      [3000n, 2],
    ]);
    expect(await wallet.getBalance(0)).toBe(100_000n - 6000n - 1250n);
    // Sends count at once, even at minconf 1 and before the send confirms.
    expect(await wallet.getBalance(1)).toBe(100_000n - 6000n - 1250n);
    expect(chain.inspect(result.txid)).toMatchObject({ sender: 'ours', fee: 1250n, comment: 'batch', inMempool: true });
  });

  it('lists a send to our own address as sent and received; the balance only loses the fee', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, 50_000n);
    const own = await wallet.createAddress('self');
    const result = await wallet.sendMany([{ address: own.toUpperCase(), amount: 10_000n }], { comment: '' });
    const info = await wallet.getTransaction(result.txid);
    expect(info.sent).toEqual([{ address: own, amount: 10_000n, vout: 0 }]);
    expect(info.received).toEqual([{ address: own, amount: 10_000n, vout: 0 }]);
    expect(info.comment).toBeUndefined();
    expect(await wallet.getBalance(0)).toBe(50_000n - 2000n);
    expect(await wallet.getBalance(1)).toBe(50_000n - 10_000n - 2000n);
    chain.mine();
    expect(await wallet.getBalance(1)).toBe(50_000n - 2000n);
    expect(await receivedTxids(wallet)).toContain(result.txid);
  });

  it('spends exactly up to the balance and refuses one base unit more with insufficient_funds', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, 10_000n);
    const to = chain.externalAddress();
    const error = await errorOf(wallet.sendMany([{ address: to, amount: 8_001n }], { comment: 'c' }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'insufficient_funds', retryable: true });
    expect((error as Error).message).toMatch(/can spend 10000.*needs 10001/);
    expect(chain.mempool).toEqual([]);
    await wallet.sendMany([{ address: to, amount: 8_000n }], { comment: 'c' });
    expect(await wallet.getBalance(0)).toBe(0n);
  });

  it('refuses malformed requests with a retryable BackendError and sends nothing', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const to = chain.externalAddress();
    const mainnet = new MemoryChain({ network: BTC.networks.mainnet! }).externalAddress();
    const cases: [unknown, RegExp][] = [
      [[], /no outputs/],
      [[{ address: to, amount: 0n }], /amount must be a positive bigint/],
      [[{ address: to, amount: -5n }], /amount must be a positive bigint/],
      [[{ address: to, amount: 5 }], /amount must be a positive bigint, got number 5/],
      [[{ address: mainnet, amount: 5n }], /not a valid regtest address \(wrong_network/],
      [[{ address: 'bcrt1qnotanaddress', amount: 5n }], /not a valid regtest address/],
      [
        [
          { address: to, amount: 5n },
          { address: to.toUpperCase(), amount: 6n },
        ],
        /output 1 repeats address/,
      ],
    ];
    for (const [outputs, message] of cases) {
      const error = await errorOf(wallet.sendMany(outputs as never, { comment: 'x' }));
      expect(error, String(message)).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ retryable: true, code: 'invalid_request' });
      expect((error as Error).message).toMatch(message);
    }
    expect(chain.mempool).toEqual([]);
    expect(await wallet.getBalance(0)).toBe(COIN);
  });
});

describe('MemoryBackend.listReceived', () => {
  it('pages oldest first and neither skips nor repeats while payments arrive between pages', async () => {
    const { chain, wallet } = setup();
    const address = await wallet.createAddress('deposits');
    const txids = [1n, 2n, 3n, 4n, 5n].map((amount) => chain.pay(address, amount));

    const first = await wallet.listReceived(null, 2);
    expect(first.transactions.map((tx) => tx.txid)).toEqual(txids.slice(0, 2));
    const late = chain.pay(address, 6n);
    chain.mine();
    const second = await wallet.listReceived(first.next, 2);
    expect(second.transactions.map((tx) => tx.txid)).toEqual(txids.slice(2, 4));
    expect(second.transactions.every((tx) => tx.confirmations === 1)).toBe(true);
    const third = await wallet.listReceived(second.next, 2);
    expect(third.transactions.map((tx) => tx.txid)).toEqual([txids[4], late]);
    expect(third.next).toBeNull();

    // A cursor stays valid: asked again it gives the same page.
    expect((await wallet.listReceived(first.next, 2)).transactions.map((tx) => tx.txid)).toEqual(txids.slice(2, 4));
    const later = chain.pay(address, 7n);
    expect((await wallet.listReceived(second.next, 10)).transactions.map((tx) => tx.txid)).toEqual([txids[4], late, later]);
  });

  it('skips pure sends, keeps conflicted receives, and refuses bad cursors and page sizes', async () => {
    const { chain, wallet } = setup();
    const fundTxid = chain.fund(wallet, COIN);
    await wallet.sendMany([{ address: chain.externalAddress(), amount: 10n }], { comment: 'out' });
    const deposit = chain.pay(await wallet.createAddress('d'), 99n);
    chain.doubleSpend(deposit);
    const listed = (await wallet.listReceived(null, 10)).transactions;
    expect(listed.map((tx) => tx.txid)).toEqual([fundTxid, deposit]);
    expect(listed[1]?.confirmations).toBe(-1);

    expect(await errorOf(wallet.listReceived('memory:3', 10))).toMatchObject({ code: 'invalid_cursor', retryable: false });
    expect(await errorOf(wallet.listReceived('bogus', 10))).toBeInstanceOf(BackendError);
    expect(await errorOf(wallet.listReceived(null, 0))).toBeInstanceOf(RangeError);
    expect(await wallet.listReceived('memory:2', 10)).toEqual({ transactions: [], next: null, tip: chain.tip });
  });
});

describe('MemoryChain reorgs and double spends', () => {
  it('reorg sends transactions back to the mempool; mining again confirms them in a new block', async () => {
    const { chain, wallet } = setup();
    const txid = chain.pay(await wallet.createAddress('x'), 5000n);
    const [oldHash] = chain.mine(1);
    chain.mine(2);
    expect((await wallet.getTransaction(txid)).confirmations).toBe(3);
    expect(await wallet.getBalance(3)).toBe(5000n);

    expect(chain.reorg(2)).toEqual([]);
    expect(chain.height).toBe(1);
    expect((await wallet.getTransaction(txid)).confirmations).toBe(1);

    expect(chain.reorg(1)).toEqual([txid]);
    const orphaned = await wallet.getTransaction(txid);
    expect(orphaned.confirmations).toBe(0);
    expect(orphaned.blockHash).toBeUndefined();
    expect(orphaned.blockHeight).toBeUndefined();
    expect(chain.mempool).toEqual([txid]);
    expect(await wallet.getBalance(1)).toBe(0n);
    expect(await wallet.getBalance(0)).toBe(5000n);

    const [newHash] = chain.mine(1);
    expect(newHash).not.toBe(oldHash);
    expect(await wallet.getTransaction(txid)).toMatchObject({ confirmations: 1, blockHash: newHash, blockHeight: 1 });
    expect(() => chain.reorg(2)).toThrow(RangeError);
  });

  it('invalidateBlock disconnects that block and those above it', async () => {
    const { chain, wallet } = setup();
    const address = await wallet.createAddress('x');
    const first = chain.pay(address, 1n);
    const [h1] = chain.mine();
    const second = chain.pay(address, 2n);
    chain.mine(2);
    const pendingThird = chain.pay(address, 3n);
    expect(chain.invalidateBlock(h1!)).toEqual([first, second]);
    expect(chain.height).toBe(0);
    expect(chain.mempool).toEqual([first, second, pendingThird]);
    expect(() => chain.invalidateBlock(h1!)).toThrow(/not a block of the active chain/);
    expect(() => chain.invalidateBlock(chain.tipHash)).toThrow(/genesis/);
  });

  it('doubleSpend of a mempool deposit gives it negative confirmations and removes it from the balance', async () => {
    const { chain, wallet } = setup();
    const txid = chain.pay(await wallet.createAddress('x'), 5000n);
    expect(await wallet.getBalance(0)).toBe(5000n);
    const conflict = chain.doubleSpend(txid);
    expect(chain.height).toBe(1);
    expect(chain.inspect(conflict)).toMatchObject({ replaces: txid, confirmations: 1, sender: null });
    expect(chain.inspect(txid)).toMatchObject({ conflictedBy: conflict, inMempool: false });
    const info = await wallet.getTransaction(txid);
    expect(info.confirmations).toBe(-1);
    expect(info.blockHash).toBeUndefined();
    expect(info.received).toEqual([expect.objectContaining({ amount: 5000n })]);
    chain.mine(2);
    expect((await wallet.getTransaction(txid)).confirmations).toBe(-3);
    expect(await wallet.getBalance(0)).toBe(0n);
    expect(await errorOf(wallet.getTransaction(conflict))).toBeInstanceOf(NotFound);
    expect(() => chain.doubleSpend(txid)).toThrow(/already double-spent/);
    // Even re-mining never brings it back.
    chain.mine();
    expect(chain.mempool).toEqual([]);
    expect((await wallet.getTransaction(txid)).confirmations).toBe(-4);
  });

  it('doubleSpend of a mined deposit puts the conflict in its block', async () => {
    const { chain, wallet } = setup();
    const txid = chain.pay(await wallet.createAddress('x'), 5000n);
    chain.mine(3);
    chain.doubleSpend(txid);
    expect(chain.height).toBe(3);
    expect((await wallet.getTransaction(txid)).confirmations).toBe(-3);
    expect(await wallet.getBalance(0)).toBe(0n);
  });

  it('doubleSpend of our own send gives the money back', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, 100_000n);
    const { txid } = await wallet.sendMany([{ address: chain.externalAddress(), amount: 40_000n }], { comment: 'w' });
    expect(await wallet.getBalance(1)).toBe(100_000n - 42_000n);
    chain.doubleSpend(txid);
    expect(await wallet.getTransaction(txid)).toMatchObject({ confirmations: -1, fee: 2000n, comment: 'w' });
    expect(await wallet.getBalance(1)).toBe(100_000n);
  });
});

describe('MemoryChain failure injection', () => {
  const calls: Record<MemoryMethod, (backend: MemoryBackend, chain: MemoryChain, txid: string) => Promise<unknown>> = {
    createAddress: (backend) => backend.createAddress('f'),
    sendMany: (backend, chain) => backend.sendMany([{ address: chain.externalAddress(), amount: 10n }], { comment: 'f' }),
    getTransaction: (backend, _chain, txid) => backend.getTransaction(txid),
    listReceived: (backend) => backend.listReceived(null, 10),
    getBalance: (backend) => backend.getBalance(0),
    findByComment: (backend) => backend.findByComment('f'),
    chainTip: (backend) => backend.chainTip(),
    changesSince: (backend) => backend.changesSince(null, 6),
    readTransactions: (backend, _chain, txid) => backend.readTransactions([txid]),
  };

  for (const [method, call] of Object.entries(calls) as [MemoryMethod, (typeof calls)[MemoryMethod]][]) {
    it(`failNext('${method}') fails the next call only, as down, garbage, too_large or a given error`, async () => {
      const { chain, wallet } = setup();
      const txid = chain.fund(wallet, COIN);

      chain.failNext(method);
      const down = await errorOf(call(wallet, chain, txid));
      expect(down).toBeInstanceOf(BackendError);
      expect(down).toMatchObject({ retryable: true, message: expect.stringMatching(/unreachable/) });
      await call(wallet, chain, txid);

      chain.failNext(method, 'garbage');
      const garbage = await errorOf(call(wallet, chain, txid));
      expect(garbage).toBeInstanceOf(BackendError);
      expect(garbage).toMatchObject({ retryable: false, message: expect.stringMatching(/malformed answer/) });

      const before = { mempool: chain.mempool, balance: await wallet.getBalance(0) };
      chain.failNext(method, 'too_large');
      const tooLarge = await errorOf(call(wallet, chain, txid));
      expect(tooLarge).toBeInstanceOf(BackendError);
      expect(tooLarge).toMatchObject({ code: ANSWER_TOO_LARGE, retryable: false });
      expect({ mempool: chain.mempool, balance: await wallet.getBalance(0) }, 'nothing done').toEqual(before);

      const custom = new Error('boom');
      chain.failNext(method, custom);
      expect(await errorOf(call(wallet, chain, txid))).toBe(custom);
      await call(wallet, chain, txid);
      expect(chain.pendingFailures).toBe(0);
    });
  }

  it("'down' on sendMany sends nothing; 'garbage' sends and loses the answer", async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, 100_000n);
    const send = () => wallet.sendMany([{ address: chain.externalAddress(), amount: 1000n }], { comment: 'g' });
    chain.failNext('sendMany', 'down');
    await errorOf(send());
    expect(chain.mempool).toEqual([]);
    expect(await wallet.getBalance(0)).toBe(100_000n);
    chain.failNext('sendMany', 'garbage');
    await errorOf(send());
    expect(chain.mempool).toHaveLength(1);
    expect(chain.inspect(chain.mempool[0]!)).toMatchObject({ comment: 'g', sender: 'ours' });
    expect(await wallet.getBalance(0)).toBe(100_000n - 3000n);
  });

  it('failures can target one wallet and queue in order', async () => {
    const { chain, wallet } = setup();
    const other = chain.createWallet('other');
    chain.failNext('getBalance', 'garbage', { wallet: 'other' });
    chain.failNext('getBalance', 'down');
    expect(await errorOf(wallet.getBalance(0))).toMatchObject({ retryable: true });
    expect(await wallet.getBalance(0)).toBe(0n);
    expect(await errorOf(other.getBalance(0))).toMatchObject({ retryable: false });
    expect(await other.getBalance(0)).toBe(0n);
  });

  it('setDown makes every call fail as retryable until it is lifted', async () => {
    const { chain, wallet } = setup();
    const txid = chain.fund(wallet, COIN);
    chain.setDown(true);
    for (const call of Object.values(calls)) {
      const error = await errorOf(call(wallet, chain, txid));
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ retryable: true });
    }
    expect(chain.mempool).toEqual([]);
    chain.setDown(false);
    expect(await wallet.getBalance(1)).toBe(COIN);
  });
});

describe('MemoryBackend.chainTip and readTransactions', () => {
  it('reports the best block, which changes with mining and with a reorg at the same height', async () => {
    const { chain, wallet } = setup();
    const genesis = await wallet.chainTip();
    expect(genesis).toEqual({ hash: chain.tipHash, height: 0 });
    chain.mine(2);
    const two = await wallet.chainTip();
    expect(two).toEqual(chain.tip);
    expect(two.height).toBe(2);
    chain.reorg(1);
    chain.mineEmpty(1);
    const replaced = await wallet.chainTip();
    expect(replaced.height).toBe(2);
    expect(replaced.hash).not.toBe(two.hash);
  });

  it('reads many txids at one tip: uppercase accepted, duplicates once, strangers and unknowns in `unknown`', async () => {
    const { chain, wallet } = setup();
    const stranger = chain.createWallet('stranger');
    const ours = chain.pay(await wallet.createAddress('a'), 10n);
    chain.mine(2);
    const lost = chain.pay(await wallet.createAddress('b'), 20n);
    chain.doubleSpend(lost);
    const theirs = chain.pay(await stranger.createAddress('c'), 30n);
    const missing = 'ab'.repeat(32);

    const reading = await wallet.readTransactions([ours.toUpperCase(), theirs, lost, ours, missing.toUpperCase()]);
    expect(reading.tip).toEqual(chain.tip);
    expect(reading.transactions).toEqual([await wallet.getTransaction(ours), await wallet.getTransaction(lost)]);
    expect(reading.transactions[0]?.confirmations).toBe(3);
    expect(reading.transactions[1]?.confirmations).toBe(-1);
    expect(reading.unknown).toEqual([theirs, missing]);
  });

  it('refuses a malformed txid before the call: no hook, no node, no injected failure used', async () => {
    const { chain, wallet } = setup();
    const txid = chain.pay(await wallet.createAddress('a'), 10n);
    const calls: MemoryCall[] = [];
    chain.setCallHook(async (call) => {
      calls.push(call);
    });
    chain.setDown(true);
    chain.failNext('readTransactions', 'garbage');
    for (const bad of ['', 'xyz', 'f'.repeat(63), 'g'.repeat(64), 42]) {
      expect(await errorOf(wallet.readTransactions([txid, bad as string]))).toBeInstanceOf(InvalidTxid);
    }
    expect(calls).toEqual([]);
    expect(chain.pendingFailures).toBe(1);
  });
});

describe('MemoryBackend.changesSince', () => {
  /** Pay one new wallet transaction per block, `blocks` times; returns the txids, lowest block first. */
  async function onePerBlock(chain: MemoryChain, wallet: MemoryBackend, blocks: number): Promise<string[]> {
    const address = await wallet.createAddress('per-block');
    const stranger = chain.externalAddress();
    const txids: string[] = [];
    for (let i = 0; i < blocks; i++) {
      txids.push(chain.pay(address, BigInt(i + 1)));
      chain.pay(stranger, 1n); // in the same block, and never in the wallet's answers
      chain.mine(1);
    }
    return txids;
  }

  const txidsOf = (changes: { transactions: readonly { txid: string }[] }): string[] => changes.transactions.map((tx) => tx.txid);

  it('with a null cursor lists the whole history: sends, receives, pending and double-spent ones', async () => {
    const { chain, wallet } = setup();
    const funded = chain.fund(wallet, COIN);
    chain.mine(10);
    const { txid: sent } = await wallet.sendMany([{ address: chain.externalAddress(), amount: 5n }], { comment: 's' });
    const lost = chain.pay(await wallet.createAddress('lost'), 7n);
    chain.doubleSpend(lost);
    const pending = chain.pay(await wallet.createAddress('p'), 9n);
    chain.pay(chain.externalAddress(), 11n);

    const changes = await wallet.changesSince(null, 0);
    expect(txidsOf(changes)).toEqual([funded, sent, lost, pending]);
    // doubleSpend mined the conflict alone: the send still waits in the mempool.
    expect(changes.transactions.map((tx) => tx.confirmations)).toEqual([12, 0, -1, 0]);
    expect(changes.removed).toEqual([]);
    expect(changes.tip).toEqual(chain.tip);
  });

  it('with a cursor on the active chain lists what is above min(cursor, tip − depth), the mempool and recent conflicts', async () => {
    const { chain, wallet } = setup();
    const txids = await onePerBlock(chain, wallet, 6); // txids[i] at height i + 1
    const cursor = await wallet.chainTip(); // height 6
    const pending = chain.pay(await wallet.createAddress('p'), 50n);

    expect(txidsOf(await wallet.changesSince(cursor, 0))).toEqual([pending]);
    expect(txidsOf(await wallet.changesSince(cursor, 2))).toEqual([txids[4], txids[5], pending]);
    expect(txidsOf(await wallet.changesSince(cursor, 100))).toEqual([...txids, pending]);

    chain.mine(3); // pending at height 7, tip 9
    const mined = await wallet.changesSince(cursor, 0);
    expect(txidsOf(mined)).toEqual([pending]);
    expect(mined.transactions[0]).toMatchObject({ confirmations: 3, blockHeight: 7 });
    // The depth window (tip − 4 = 5) reaches below the cursor: heights 6 and up.
    const deeper = await wallet.changesSince(cursor, 4);
    expect(txidsOf(deeper)).toEqual([txids[5], pending]);
    expect(deeper.transactions[0]?.confirmations).toBe(4);

    // A deposit double-spent after the cursor is listed, with its negative confirmations; one
    // double-spent in a block below the window is not.
    chain.doubleSpend(txids[5]!);
    chain.doubleSpend(txids[0]!);
    const conflicted = await wallet.changesSince(cursor, 0);
    expect(txidsOf(conflicted)).toEqual([pending]);
    const recent = await wallet.changesSince(cursor, 4);
    expect(txidsOf(recent)).toEqual([txids[5], pending]);
    expect(recent.transactions[0]?.confirmations).toBe(-4);
    const lost = chain.pay(await wallet.createAddress('lost'), 3n);
    chain.doubleSpend(lost); // its conflict mined at height 10, above the cursor
    expect(txidsOf(await wallet.changesSince(cursor, 0))).toEqual([pending, lost]);
    expect(txidsOf(await wallet.changesSince(chain.tip, 0))).toEqual([]);
  });

  for (const depth of [1, 2, 3, 4, 5, 6]) {
    it(`after a reorganisation ${depth} deep lists from the fork point and names the disconnected transactions`, async () => {
      const { chain, wallet } = setup();
      const txids = await onePerBlock(chain, wallet, 8);
      const cursor = await wallet.chainTip();
      chain.reorg(depth);
      chain.mineEmpty(depth + 1);
      const disconnected = txids.slice(8 - depth);

      const changes = await wallet.changesSince(cursor, 0);
      expect(changes.tip).toEqual({ hash: chain.tipHash, height: 9 });
      expect(changes.removed).toEqual(disconnected);
      expect(txidsOf(changes)).toEqual(disconnected);
      expect(changes.transactions.every((tx) => tx.confirmations === 0 && tx.blockHash === undefined)).toBe(true);

      // A depth reaching below the fork point lists the two blocks under it too.
      const wider = await wallet.changesSince(cursor, depth + 3);
      expect(txidsOf(wider)).toEqual(txids.slice(6 - depth));
      expect(wider.removed).toEqual(disconnected);

      // Mined again: listed with their new confirmations, and still named as removed.
      chain.mine(1);
      const remined = await wallet.changesSince(cursor, 0);
      expect(txidsOf(remined)).toEqual(disconnected);
      expect(remined.transactions.every((tx) => tx.confirmations === 1 && tx.blockHeight === 10)).toBe(true);
      expect(remined.removed).toEqual(disconnected);
    });

    it(`after a reorganisation ${depth} deep finds what the new branch confirmed below the cursor's height`, async () => {
      const { chain, wallet } = setup();
      const txids = await onePerBlock(chain, wallet, 8);
      const cursor = await wallet.chainTip();
      chain.reorg(depth);
      const [first] = chain.mine(1); // confirms them at once, at height 9 − depth ≤ the cursor's 8
      chain.mineEmpty(depth);
      const disconnected = txids.slice(8 - depth);

      const changes = await wallet.changesSince(cursor, 0);
      expect(txidsOf(changes)).toEqual(disconnected);
      expect(changes.transactions.every((tx) => tx.blockHash === first && tx.confirmations === depth + 1)).toBe(true);
      expect(changes.removed).toEqual(disconnected);
    });
  }

  it('follows a cursor on a branch that two reorganisations left behind down to where it meets the active chain', async () => {
    const { chain, wallet } = setup();
    const [, , t3, t4, t5, t6] = await onePerBlock(chain, wallet, 6);
    const cursorA = await wallet.chainTip(); // A6
    chain.reorg(2); // t5, t6 back to the mempool
    chain.mineEmpty(1); // B5
    const t7 = chain.pay(await wallet.createAddress('b'), 70n);
    chain.mine(2); // B6 holds t5, t6, t7; B7 empty
    const cursorB = await wallet.chainTip();
    expect(cursorB.height).toBe(7);
    expect(txidsOf(await wallet.changesSince(cursorA, 0))).toEqual([t5, t6, t7]);

    chain.reorg(4); // A4, B5, B6, B7 go: fork at A3
    chain.mineEmpty(5);
    const fromA = await wallet.changesSince(cursorA, 0);
    expect(fromA.removed).toEqual([t4, t5, t6]);
    expect(txidsOf(fromA)).toEqual([t4, t5, t6, t7]);
    const fromB = await wallet.changesSince(cursorB, 0);
    expect(fromB.removed).toEqual([t4, t5, t6, t7]);
    expect(txidsOf(fromB)).toEqual([t4, t5, t6, t7]);
    expect(fromB.tip).toEqual({ hash: chain.tipHash, height: 8 });
    expect(txidsOf(await wallet.changesSince(cursorB, 6))).toEqual([t3, t4, t5, t6, t7]);
  });

  it('from a cursor at genesis lists everything in blocks and the mempool; a chain reorganised down to genesis forks there', async () => {
    const { chain, wallet } = setup();
    const genesis = await wallet.chainTip();
    const txids = await onePerBlock(chain, wallet, 3);
    const lost = chain.pay(await wallet.createAddress('lost'), 5n);
    chain.doubleSpend(lost);
    const pending = chain.pay(await wallet.createAddress('p'), 6n);
    const fromGenesis = await wallet.changesSince(genesis, 0);
    expect(txidsOf(fromGenesis)).toEqual(txidsOf(await wallet.changesSince(null, 0)));
    expect(txidsOf(fromGenesis)).toEqual([...txids, lost, pending]);
    expect(fromGenesis.removed).toEqual([]);

    const cursor = await wallet.chainTip(); // height 4
    chain.reorg(4);
    chain.mineEmpty(5);
    const changes = await wallet.changesSince(cursor, 0);
    // The conflict of `lost` went back to the mempool too, so `lost` has 0 confirmations again.
    expect(changes.removed).toEqual(txids);
    expect(txidsOf(changes)).toEqual([...txids, lost, pending]);
    expect(changes.transactions.every((tx) => tx.confirmations === 0)).toBe(true);
    expect(txidsOf(await wallet.changesSince(genesis, 0))).toEqual([...txids, lost, pending]);
  });

  it('refuses cursors the chain never made, heights that do not match, and negative depths', async () => {
    const { chain, wallet } = setup();
    chain.mine(2);
    const tip = await wallet.chainTip();
    const foreign: ChainTip = new MemoryChain({ network: regtest, seed: 'elsewhere' }).tip;
    for (const cursor of [foreign, { hash: tip.hash, height: 1 }, { hash: 'nonsense', height: 2 }]) {
      expect(await errorOf(wallet.changesSince(cursor, 0)), JSON.stringify(cursor)).toMatchObject({
        code: 'invalid_cursor',
        retryable: false,
      });
    }
    expect((await wallet.changesSince({ hash: tip.hash.toUpperCase(), height: 2 }, 0)).tip).toEqual(tip);
    for (const depth of [-1, 1.5, Number.NaN]) {
      expect(await errorOf(wallet.changesSince(tip, depth))).toBeInstanceOf(RangeError);
    }
  });

  it('throws answer_too_large over the answer cap, which can be set, changed and lifted; listReceived still pages', async () => {
    const { chain, wallet } = setup({ answerCap: 2 });
    const txids = await onePerBlock(chain, wallet, 3);
    const cursor = await wallet.chainTip();
    const error = await errorOf(wallet.changesSince(null, 0));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: ANSWER_TOO_LARGE, retryable: false, message: expect.stringMatching(/3 transactions, cap 2/) });
    expect(await receivedTxids(wallet, 2)).toEqual(txids);
    expect(txidsOf(await wallet.changesSince(cursor, 1))).toEqual([txids[2]]);

    chain.setAnswerCap(0);
    expect(await wallet.changesSince(cursor, 0)).toMatchObject({ transactions: [] });
    expect(await errorOf(wallet.changesSince(cursor, 1))).toMatchObject({ code: ANSWER_TOO_LARGE });
    chain.setAnswerCap(null);
    expect(txidsOf(await wallet.changesSince(null, 0))).toEqual(txids);
    expect(() => chain.setAnswerCap(-1)).toThrow(RangeError);
    expect(() => new MemoryChain({ network: regtest, answerCap: 1.5 })).toThrow(RangeError);
  });
});

describe('MemoryBackend.sendMany deadline on the chain clock', () => {
  it('sends up to notAfter and refuses after it with deadline_passed, sending nothing', async () => {
    let now = 1_000;
    const { chain, wallet } = setup({ now: () => now });
    chain.fund(wallet, COIN);
    const to = chain.externalAddress();
    await wallet.sendMany([{ address: to, amount: 1n }], { comment: 'on time', notAfter: 1_000 });
    expect(chain.mempool).toHaveLength(1);

    now = 1_000.5;
    const error = await errorOf(wallet.sendMany([{ address: to, amount: 2n }], { comment: 'late', notAfter: 1_000 }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: DEADLINE_PASSED, retryable: true });
    expect(chain.mempool).toHaveLength(1);
    expect(await wallet.getBalance(0)).toBe(COIN - 1n - 2000n);
    expect(await wallet.findByComment('late')).toBeUndefined();

    // Without a deadline the clock does not matter; a deadline that is not a number is refused.
    await wallet.sendMany([{ address: to, amount: 3n }], { comment: 'no deadline' });
    expect(chain.mempool).toHaveLength(2);
    expect(await errorOf(wallet.sendMany([{ address: to, amount: 4n }], { comment: 'nan', notAfter: Number.NaN }))).toMatchObject({
      code: 'invalid_request',
      retryable: true,
    });
    expect(chain.mempool).toHaveLength(2);
  });

  it('checks the deadline after the call hook, immediately before the request leaves, and before the node is asked', async () => {
    let now = 0;
    const { chain, wallet } = setup({ now: () => now });
    chain.fund(wallet, COIN);
    // The process is paused before the request leaves: its deadline passes meanwhile.
    chain.setCallHook(async (call) => {
      if (call.phase === 'before') now += 50;
    });
    const paused = await errorOf(wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'p', notAfter: 10 }));
    expect(paused).toMatchObject({ code: DEADLINE_PASSED });
    chain.setCallHook(null);
    chain.setDown(true);
    chain.failNext('sendMany', 'garbage');
    const down = await errorOf(wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'd', notAfter: 10 }));
    expect(down).toMatchObject({ code: DEADLINE_PASSED });
    expect(chain.pendingFailures).toBe(1);
    chain.setDown(false);
    expect(chain.mempool).toEqual([]);
  });

  it('defaults to performance.now()', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const to = chain.externalAddress();
    const late = await errorOf(wallet.sendMany([{ address: to, amount: 1n }], { comment: 'l', notAfter: performance.now() - 1 }));
    expect(late).toMatchObject({ code: DEADLINE_PASSED });
    await wallet.sendMany([{ address: to, amount: 1n }], { comment: 'ok', notAfter: performance.now() + 60_000 });
    expect(chain.mempool).toHaveLength(1);
  });
});

describe('MemoryChain call hook', () => {
  /** A promise with its resolve function, to hold a hook until the test lets it go. */
  function gate(): { promise: Promise<void>; open: () => void } {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    return { promise, open };
  }

  it('is awaited before and after every call, with the method and the wallet', async () => {
    const { chain, wallet } = setup();
    const other = chain.createWallet('other');
    chain.fund(wallet, COIN);
    const calls: MemoryCall[] = [];
    chain.setCallHook(async (call) => {
      calls.push(call);
    });
    const txid = chain.pay(await wallet.createAddress('a'), 5n);
    await other.getBalance(0);
    await wallet.readTransactions([txid]);
    await errorOf(wallet.sendMany([{ address: chain.externalAddress(), amount: 10n * COIN }], { comment: 'too much' }));
    chain.setDown(true);
    await errorOf(wallet.chainTip());
    chain.setDown(false);
    chain.setCallHook(null);
    await wallet.changesSince(null, 0);

    const pairs = (method: MemoryMethod, name: string): MemoryCall[] => [
      { method, wallet: name, phase: 'before' },
      { method, wallet: name, phase: 'after' },
    ];
    expect(calls).toEqual([
      ...pairs('createAddress', 'ours'),
      ...pairs('getBalance', 'other'),
      ...pairs('readTransactions', 'ours'),
      // Refused by the node or unreachable: 'after' still runs before the caller sees the error.
      ...pairs('sendMany', 'ours'),
      ...pairs('chainTip', 'ours'),
    ]);
  });

  it("a hook throwing at 'before' fails the call with nothing done", async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const crash = new Error('process crashed before the request left');
    chain.setCallHook(async (call) => {
      if (call.phase === 'before') throw crash;
    });
    expect(await errorOf(wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'x' }))).toBe(crash);
    expect(await errorOf(wallet.createAddress('never'))).toBe(crash);
    chain.setCallHook(null);
    expect(chain.mempool).toEqual([]);
    expect(await wallet.getBalance(0)).toBe(COIN);
    expect(await wallet.findByComment('x')).toBeUndefined();
  });

  it("a hook throwing at 'after' loses the answer of a send that went out", async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const lost = new Error('connection lost after sending');
    chain.setCallHook(async (call) => {
      if (call.phase === 'after' && call.method === 'sendMany') throw lost;
    });
    expect(await errorOf(wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'lost answer' }))).toBe(lost);
    expect(chain.mempool).toHaveLength(1);
    const found = await wallet.findByComment('lost answer');
    expect(found).toMatchObject({ txid: chain.mempool[0], comment: 'lost answer', confirmations: 0 });
    expect(await wallet.getBalance(0)).toBe(COIN - 1n - 2000n);
  });

  it('a hook that waits holds the call: nothing done while held before, no answer while held after', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const before = gate();
    const after = gate();
    chain.setCallHook(async (call) => {
      await (call.phase === 'before' ? before.promise : after.promise);
    });
    let settled = false;
    const send = wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'slow' }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(chain.mempool).toEqual([]);
    chain.mine(1); // the chain moves on while the process is paused

    before.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(chain.mempool).toHaveLength(1);
    expect(settled).toBe(false);

    after.open();
    const result = await send;
    expect(result.txid).toBe(chain.mempool[0]);
  });

  it('is not reached by a closed handle; without a hook calls act synchronously', async () => {
    const { chain, wallet } = setup();
    chain.fund(wallet, COIN);
    const calls: MemoryCall[] = [];
    chain.setCallHook(async (call) => {
      calls.push(call);
    });
    const closed = chain.openWallet('ours');
    await closed.close();
    expect(await errorOf(closed.chainTip())).toMatchObject({ code: 'backend_closed' });
    expect(calls).toEqual([]);

    chain.setCallHook(null);
    const send = wallet.sendMany([{ address: chain.externalAddress(), amount: 1n }], { comment: 'sync' });
    expect(chain.mempool, 'sent before the promise is awaited').toHaveLength(1);
    await send;
    expect(() => chain.setCallHook('nope' as never)).toThrow(TypeError);
  });
});
