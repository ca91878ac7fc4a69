import { describe, expect, it } from 'vitest';
import { MemoryChain, type MemoryBackend, type MemoryMethod } from '../../src/backends/memory/index.js';
import { validateAddress } from '../../src/domain/address.js';
import { BTC, DOGE } from '../../src/domain/coins.js';
import { BackendError, InvalidTxid, NotFound } from '../../src/domain/errors.js';

const regtest = BTC.networks.regtest!;
const COIN = 100_000_000n;

function setup(options: { feeBase?: bigint; feePerOutput?: bigint } = {}) {
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

  it('is deterministic: the same seed and calls give the same addresses, txids and hashes', async () => {
    const run = async (seed?: string) => {
      const chain = new MemoryChain(seed === undefined ? { network: regtest } : { network: regtest, seed });
      const wallet = chain.createWallet('w');
      const address = await wallet.createAddress('x');
      const txid = chain.pay(address, 5n);
      const [hash] = chain.mine();
      return { address, txid, hash };
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first.txid).toMatch(/^[0-9a-f]{64}$/);
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    const other = await run('another seed');
    expect(other.address).not.toBe(first.address);
    expect(other.txid).not.toBe(first.txid);
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
      expect(error).toMatchObject({ retryable: true, code: 'backend_error' });
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
    expect(await wallet.listReceived('memory:2', 10)).toEqual({ transactions: [], next: null });
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
  };

  for (const [method, call] of Object.entries(calls) as [MemoryMethod, (typeof calls)[MemoryMethod]][]) {
    it(`failNext('${method}') fails the next call only, as down, garbage or a given error`, async () => {
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
