/**
 * BitcoindBackend against real Litecoin Core regtest nodes: what the conformance suite cannot
 * express (fees as the node reports them, encrypted wallets, reorganisations, double spends
 * across two nodes, cookie authentication, a node that goes away).
 *
 * Node A (password authentication) serves most tests; node B (cookie authentication, no coins
 * of its own) joins for the double spend and the cookie tests. The last tests stop the nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitcoindBackend, JsonNumber, RpcError } from '../../src/backends/bitcoind/index.js';
import { TXID_PATTERN, type ChainTip, type NetworkTransactionInfo } from '../../src/backends/backend.js';
import { validateAddress } from '../../src/domain/address.js';
import { formatAmount, parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import { BackendError, NotFound } from '../../src/domain/errors.js';
import type { BitcoindBackendConfig } from '../../src/config/types.js';
import { describeWithNode, RegtestNode } from '../helpers/regtest.js';

const network = LTC.networks.regtest!;
const COIN = 100_000_000n;
const coins = (amount: bigint): string => formatAmount(amount, LTC);

/** Every confirmed transaction of a reading is as deep as its block is below the reading's tip. */
function expectReadAt(tip: ChainTip, transactions: readonly NetworkTransactionInfo[]): void {
  for (const tx of transactions) {
    if (tx.confirmations > 0) expect(tx.blockHeight! + tx.confirmations - 1, tx.txid).toBe(tip.height);
  }
}

async function thrown(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

describeWithNode()('BitcoindBackend on Litecoin Core regtest', () => {
  let a: RegtestNode;
  const backends: BitcoindBackend[] = [];

  beforeAll(async () => {
    a = await RegtestNode.start();
  }, 60_000);

  afterAll(async () => {
    for (const backend of backends) await backend.close();
    await a?.stop();
  }, 60_000);

  /** A backend on a fresh wallet of `node`, funded with `fund` coins (confirmed) when given. */
  async function walletBackend(
    node: RegtestNode,
    options: { fund?: bigint; config?: Partial<BitcoindBackendConfig> } = {},
  ): Promise<{ backend: BitcoindBackend; wallet: string }> {
    const wallet = await node.createWallet('backend');
    const backend = new BitcoindBackend({ config: node.backendConfig(wallet, options.config), coin: LTC, network });
    backends.push(backend);
    if (options.fund !== undefined) {
      await node.fund(await backend.createAddress('fund'), coins(options.fund));
      await node.mine(1);
    }
    return { backend, wallet };
  }

  it('creates addresses of each configured type, valid on the network', async () => {
    const wallet = await a.createWallet('types');
    const expectations = { legacy: 'p2pkh', 'p2sh-segwit': 'p2sh', bech32: 'p2wpkh' } as const;
    for (const [addressType, kind] of Object.entries(expectations)) {
      const backend = new BitcoindBackend({
        config: a.backendConfig(wallet, { addressType: addressType as BitcoindBackendConfig['addressType'] }),
        coin: LTC,
        network,
      });
      const address = await backend.createAddress(`type-${addressType}`);
      expect(validateAddress(address, network), addressType).toMatchObject({ ok: true, kind });
      const info = (await a.walletRpc(wallet, 'getaddressinfo', address)) as { ismine: boolean; labels: string[] };
      expect(info.ismine).toBe(true);
      await backend.close();
    }
  });

  it('refuses a node on another network than configured (wrong_network)', async () => {
    const wallet = await a.createWallet('wrongnet');
    const backend = new BitcoindBackend({ config: a.backendConfig(wallet), coin: LTC, network: LTC.networks.testnet! });
    const error = await thrown(backend.createAddress('x'));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'wrong_network', retryable: false });
    await backend.close();
  });

  it('counts the fee of a 3-output send once, although the node repeats it on every line', async () => {
    const { backend, wallet } = await walletBackend(a, { fund: 5n * COIN });
    const before = await backend.getBalance(0);
    const outputs = [
      { address: await a.minerNewAddress(), amount: 10_000_000n },
      { address: await a.minerNewAddress(), amount: 20_000_000n },
      { address: await a.minerNewAddress(), amount: 30_000_000n },
    ];
    const result = await backend.sendMany(outputs, { comment: 'fee once' });
    expect(result.txid).toMatch(TXID_PATTERN);

    const raw = (await a.walletRpc(wallet, 'gettransaction', result.txid)) as {
      fee: JsonNumber;
      details: { category: string; fee?: JsonNumber }[];
    };
    const nodeFee = -parseAmount(raw.fee.text, LTC, { allowNegative: true });
    const perLine = raw.details.filter((detail) => detail.category === 'send').map((detail) => detail.fee!.text);
    expect(perLine).toEqual([raw.fee.text, raw.fee.text, raw.fee.text]);
    expect(result.fee).toBe(nodeFee);
    expect(result.fee).toBeGreaterThan(0n);

    const info = await backend.getTransaction(result.txid);
    expect(info.fee).toBe(result.fee);
    expect(info.comment).toBe('fee once');
    expect(info.sent.map((output) => output.amount).sort()).toEqual([10_000_000n, 20_000_000n, 30_000_000n]);
    expect(await backend.getBalance(0)).toBe(before - 60_000_000n - result.fee);
  });

  it('unlocks an encrypted wallet just for the send and locks it again; a wrong passphrase sends nothing', async () => {
    const wallet = await a.createWallet('encrypted');
    const passphrase = 'correct horse battery staple';
    await a.walletRpc(wallet, 'encryptwallet', passphrase);
    const good = new BitcoindBackend({ config: a.backendConfig(wallet, { passphrase }), coin: LTC, network });
    backends.push(good);
    await a.fund(await good.createAddress('fund'), '3');
    await a.mine(1);

    const external = await a.minerNewAddress();
    const result = await good.sendMany([{ address: external, amount: COIN }], { comment: 'encrypted send' });
    expect((await good.getTransaction(result.txid)).sent).toEqual([expect.objectContaining({ address: external, amount: COIN })]);
    const info = (await a.walletRpc(wallet, 'getwalletinfo')) as { unlocked_until: JsonNumber };
    expect(info.unlocked_until.text).toBe('0');

    const balance = await good.getBalance(0);
    const count = ((await a.walletRpc(wallet, 'listtransactions', '*', 100)) as unknown[]).length;

    const wrongPassphrase = 'not the passphrase';
    const wrong = new BitcoindBackend({ config: a.backendConfig(wallet, { passphrase: wrongPassphrase }), coin: LTC, network });
    backends.push(wrong);
    const error = await thrown(wrong.sendMany([{ address: external, amount: COIN }], { comment: 'wrong passphrase' }));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({ code: 'wrong_passphrase', rpcCode: -14, retryable: false });
    expect((error as Error).message).not.toContain(wrongPassphrase);

    const none = new BitcoindBackend({ config: a.backendConfig(wallet), coin: LTC, network });
    backends.push(none);
    expect(await thrown(none.sendMany([{ address: external, amount: COIN }], { comment: 'locked' }))).toMatchObject({
      code: 'wallet_locked',
      rpcCode: -13,
    });

    expect(await good.getBalance(0)).toBe(balance);
    expect(((await a.walletRpc(wallet, 'listtransactions', '*', 100)) as unknown[]).length).toBe(count);
  });

  it('refuses a send beyond the balance as retryable insufficient_funds and sends nothing', async () => {
    const { backend } = await walletBackend(a, { fund: COIN });
    const balance = await backend.getBalance(0);
    const error = await thrown(backend.sendMany([{ address: await a.minerNewAddress(), amount: 2n * COIN }], { comment: 'too much' }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'insufficient_funds', retryable: true });
    expect(await backend.getBalance(0)).toBe(balance);
    expect(await backend.findByComment('too much')).toBeUndefined();
  });

  it('reports 0 confirmations after invalidateblock, and the block again after reconsiderblock', async () => {
    const { backend } = await walletBackend(a);
    const address = await backend.createAddress('reorg');
    const txid = await a.fund(address, '0.25');
    const [block] = await a.mine(1);
    const mined = await backend.getTransaction(txid);
    expect(mined).toMatchObject({ confirmations: 1, blockHash: block });
    const cursor = await backend.chainTip();
    expect(cursor.hash).toBe(block);

    await a.rpc('invalidateblock', block);
    await a.settle();
    const back = await backend.getTransaction(txid);
    expect(back.confirmations).toBe(0);
    expect(back.blockHash).toBeUndefined();
    expect(back.blockHeight).toBeUndefined();
    expect(back.received).toEqual(mined.received);

    // The cursor's block left the best chain: the reading names what it held, and reads it again.
    const changes = await backend.changesSince(cursor, 1);
    expect(changes.tip).toEqual({ hash: await a.rpc('getbestblockhash'), height: cursor.height - 1 });
    expect(changes.removed).toContain(txid);
    expect(changes.transactions.find((tx) => tx.txid === txid)).toMatchObject({ confirmations: 0, received: mined.received });

    await a.rpc('reconsiderblock', block);
    await a.settle();
    expect(await backend.getTransaction(txid)).toMatchObject({ confirmations: 1, blockHash: block, blockHeight: mined.blockHeight });
  });

  it('pages through 7 payments interleaved with sends, past pages without receives', async () => {
    const { backend, wallet } = await walletBackend(a, { fund: 10n * COIN });
    const fundTxids = ((await a.walletRpc(wallet, 'listtransactions', '*', 10)) as { txid: string }[]).map((entry) => entry.txid);
    const payments: string[] = [];
    const sends: string[] = [];
    for (let i = 1; i <= 7; i++) {
      payments.push(await a.fund(await backend.createAddress(`page-${i}`), `0.0${i}`));
      await a.mine(1);
      // Runs of sends to outsiders: several pages in a row hold no receive at all.
      const runs = i === 3 ? 4 : i % 2 === 0 ? 1 : 0;
      for (let s = 0; s < runs; s++) {
        const sent = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 1_000_000n }], {
          comment: `page send ${i}.${s}`,
        });
        sends.push(sent.txid);
      }
      await a.mine(1);
    }

    const listed: string[] = [];
    let next: string | null = null;
    let pages = 0;
    let emptyPagesBeforeEnd = 0;
    const tip = await backend.chainTip();
    do {
      const page = await backend.listReceived(next, 2);
      expect(page.tip).toEqual(tip);
      expectReadAt(page.tip, page.transactions);
      expect(page.transactions.length).toBeLessThanOrEqual(2);
      listed.push(...page.transactions.map((tx) => tx.txid));
      for (const tx of page.transactions) expect(tx.received.length).toBeGreaterThan(0);
      if (page.transactions.length === 0 && page.next !== null) emptyPagesBeforeEnd++;
      next = page.next;
      pages++;
    } while (next !== null && pages < 100);
    expect(next).toBeNull();
    expect(emptyPagesBeforeEnd, 'pages without receives did not end the scan').toBeGreaterThan(0);
    expect(listed).toEqual([...fundTxids, ...payments]);
    for (const txid of sends) expect(listed).not.toContain(txid);
  });

  it('finds a send by its comment', async () => {
    const { backend } = await walletBackend(a, { fund: 2n * COIN });
    const first = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 5_000_000n }], { comment: 'broadcast #41' });
    const second = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 6_000_000n }], { comment: 'broadcast #42' });
    await a.mine(1);
    expect(await backend.findByComment('broadcast #42')).toMatchObject({ txid: second.txid, fee: second.fee, comment: 'broadcast #42' });
    expect((await backend.findByComment('broadcast #41'))?.txid).toBe(first.txid);
    expect(await backend.findByComment('broadcast #43')).toBeUndefined();
    // Beyond the fast path's newest entries, the complete search still finds it (and still
    // answers "not found" only for a comment the wallet really does not have).
    expect((await backend.findByComment('broadcast #41', { maxEntries: 1 }))?.txid).toBe(first.txid);
    expect(await backend.findByComment('broadcast #43', { maxEntries: 1 })).toBeUndefined();
  });

  it('lists what changed since a block with listSinceBlock', async () => {
    const { backend } = await walletBackend(a, { fund: COIN });
    const all = await backend.listSinceBlock(null);
    expect(all.transactions).toHaveLength(1);
    expect(all.lastBlock).toBe(await a.rpc('getbestblockhash'));

    const payment = await a.fund(await backend.createAddress('since'), '0.5');
    const sent = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 1_000_000n }], { comment: 'since send' });
    const pending = await backend.listSinceBlock(all.lastBlock);
    expect(pending.transactions.map((tx) => tx.txid).sort()).toEqual([payment, sent.txid].sort());
    const send = pending.transactions.find((tx) => tx.txid === sent.txid)!;
    expect(send).toMatchObject({ fee: sent.fee, comment: 'since send', confirmations: 0 });
    expect(send.sent).toEqual([expect.objectContaining({ amount: 1_000_000n })]);
    expect(pending.transactions.find((tx) => tx.txid === payment)?.received).toEqual([expect.objectContaining({ amount: 50_000_000n })]);

    const [block] = await a.mine(1);
    const mined = await backend.listSinceBlock(pending.lastBlock);
    expect(mined.lastBlock).toBe(block);
    expect(mined.transactions.every((tx) => tx.confirmations === 1 && tx.blockHash === block)).toBe(true);
    expect(mined.removed).toEqual([]);
    expect(await thrown(backend.listSinceBlock('ab'.repeat(32)))).toMatchObject({ code: 'invalid_address_or_key' });
  });

  it('lists what changed since a tip, and what lies within a depth of the tip, in one reading (changesSince)', async () => {
    const { backend } = await walletBackend(a);
    const before = await backend.chainTip();
    const deep = await a.fund(await backend.createAddress('deep'), '0.1');
    await a.mine(3);
    const shallow = await a.fund(await backend.createAddress('shallow'), '0.2');
    const [shallowBlock] = await a.mine(2);
    const pending = await a.fund(await backend.createAddress('pending'), '0.3');
    // Confirmations now: deep 5, shallow 2, pending 0.
    const tip = await backend.chainTip();
    expect(tip).toEqual({ hash: await a.rpc('getbestblockhash'), height: await a.height() });
    const within = async (cursor: ChainTip | null, depth: number): Promise<string[]> => {
      const changes = await backend.changesSince(cursor, depth);
      expect(changes.tip).toEqual(tip);
      expect(changes.removed).toEqual([]);
      expectReadAt(changes.tip, changes.transactions);
      return changes.transactions.map((tx) => tx.txid).sort();
    };
    expect(await within(tip, 0)).toEqual([pending]);
    expect(await within(tip, 2)).toEqual([shallow, pending].sort());
    expect(await within(tip, 4)).toEqual([shallow, pending].sort());
    expect(await within(tip, 5)).toEqual([deep, shallow, pending].sort());
    expect(await within(tip, 100_000)).toEqual([deep, shallow, pending].sort());
    // After the cursor: what came since, whatever the depth.
    expect(await within(before, 0)).toEqual([deep, shallow, pending].sort());
    expect(await within({ hash: shallowBlock!, height: tip.height - 1 }, 0)).toEqual([pending]);
    expect(await within(null, 0)).toEqual([deep, shallow, pending].sort());
    const [info] = (await backend.changesSince(tip, 2)).transactions.filter((tx) => tx.txid === shallow);
    expect(info).toMatchObject({ confirmations: 2, received: [expect.objectContaining({ amount: 20_000_000n })] });
  });

  it('reads several transactions at one tip, the unknown ones apart (readTransactions)', async () => {
    const { backend } = await walletBackend(a, { fund: COIN });
    const received = await a.fund(await backend.createAddress('read'), '0.4');
    await a.mine(2);
    const sent = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 1_000_000n }], { comment: 'read send' });
    const foreign = await a.fund(await a.minerNewAddress(), '0.1');
    const reading = await backend.readTransactions([received, sent.txid, foreign.toUpperCase(), received]);
    expect(reading.tip).toEqual(await backend.chainTip());
    expect(reading.unknown).toEqual([foreign]);
    expect(reading.transactions).toEqual([await backend.getTransaction(received), await backend.getTransaction(sent.txid)]);
    expect(reading.transactions.map((tx) => tx.confirmations)).toEqual([2, 0]);
    expectReadAt(reading.tip, reading.transactions);
  });

  it('refuses a whole-history reading over max_answer_bytes; listReceived still pages through every receive', async () => {
    const cap = 20 * 1024;
    const { backend, wallet } = await walletBackend(a, { config: { maxAnswerBytes: cap } });
    // 80 receives: the scan's largest request (the newest 32 entries, ~14 KB) fits under the cap
    // while the whole listing (~36 KB) does not; with fewer than 32 entries the two are the same.
    const receives: string[] = [];
    for (let i = 0; i < 80; i++) {
      receives.push(await a.fund(await backend.createAddress(`many-${i}`), `0.0${100 + i}`));
      if (i % 20 === 19) await a.mine(1); // the miner's chain of unconfirmed change stays short
    }
    await a.mine(1);
    const whole = (await a.walletRpc(wallet, 'listsinceblock', '', 1, true)) as { transactions: unknown[] };
    expect(JSON.stringify(whole).length, 'the whole listing is over the cap').toBeGreaterThan(cap);

    const error = await thrown(backend.changesSince(null, 6));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'answer_too_large', retryable: false });
    expect((error as Error).message).toContain(`max_answer_bytes (${cap})`);

    const listed: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page = await backend.listReceived(next, 5);
      listed.push(...page.transactions.map((tx) => tx.txid));
      next = page.next;
    } while (next !== null && ++pages < 100);
    expect(listed).toEqual(receives);
    // A recent window is small, and still read whole.
    const recent = await backend.changesSince(await backend.chainTip(), 0);
    expect(recent.transactions).toEqual([]);
  });

  it('refuses a send past its deadline and sends nothing (deadline_passed)', async () => {
    const { backend, wallet } = await walletBackend(a, { fund: COIN });
    const history = (await a.walletRpc(wallet, 'listtransactions', '*', 100)) as unknown[];
    const balance = await backend.getBalance(0);
    const error = await thrown(
      backend.sendMany([{ address: await a.minerNewAddress(), amount: 1_000_000n }], {
        comment: 'too late',
        notAfter: performance.now() - 1,
      }),
    );
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'deadline_passed', retryable: true });
    await a.settle();
    expect(await a.walletRpc(wallet, 'listtransactions', '*', 100)).toEqual(history);
    expect(await backend.getBalance(0)).toBe(balance);
    expect(await backend.findByComment('too late')).toBeUndefined();
    // The same send within its deadline goes out.
    const sent = await backend.sendMany([{ address: await a.minerNewAddress(), amount: 1_000_000n }], {
      comment: 'in time',
      notAfter: performance.now() + 30_000,
    });
    expect((await backend.findByComment('in time'))?.txid).toBe(sent.txid);
  });

  it('reports the tip, answers ping, and NotFound for a foreign transaction', async () => {
    const { backend } = await walletBackend(a);
    expect(await backend.chainTip()).toEqual({ hash: await a.rpc('getbestblockhash'), height: await a.height() });
    await expect(backend.ping()).resolves.toBeUndefined();
    const foreign = await a.fund(await a.minerNewAddress(), '0.1');
    await expect(backend.getTransaction(foreign)).rejects.toBeInstanceOf(NotFound);
    const missing = new BitcoindBackend({ config: a.backendConfig('no-such-wallet'), coin: LTC, network });
    expect(await thrown(missing.ping())).toMatchObject({ code: 'wallet_not_found', rpcCode: -18 });
  });

  describe('with a second node (cookie authentication)', () => {
    let b: RegtestNode;

    beforeAll(async () => {
      b = await RegtestNode.start({ cookieAuth: true, mature: false });
      await b.connect(a);
      await b.syncWith(a);
    }, 60_000);

    afterAll(async () => {
      await b?.stop();
    }, 60_000);

    it('shows a deposit that lost to a double spend with negative confirmations, and in removed', async () => {
      const { backend } = await walletBackend(a);
      const address = await backend.createAddress('double-spent');
      await b.syncWith(a);

      // A coin of the miner, and its key, so that node B can spend it too.
      const [coin] = (await a.walletRpc(a.minerWallet, 'listunspent', 100)) as {
        txid: string;
        vout: JsonNumber;
        address: string;
        amount: JsonNumber;
      }[];
      const key = (await a.walletRpc(a.minerWallet, 'dumpprivkey', coin!.address)) as string;
      const value = parseAmount(coin!.amount.text, LTC);
      const input = [{ txid: coin!.txid, vout: coin!.vout }];

      await a.isolate();
      await b.isolate();
      const deposit = 10n * COIN;
      const depositTx = (await a.rpc('createrawtransaction', input, {
        [address]: new JsonNumber(coins(deposit)),
        [await a.minerNewAddress()]: new JsonNumber(coins(value - deposit - 100_000n)),
      })) as string;
      const signed = (await a.walletRpc(a.minerWallet, 'signrawtransactionwithwallet', depositTx)) as { hex: string };
      const txid = (await a.rpc('sendrawtransaction', signed.hex)) as string;
      await a.mine(1); // also lets the wallets catch up
      const before = await backend.getTransaction(txid);
      expect(before).toMatchObject({ confirmations: 1, received: [{ address, amount: deposit }] });
      const tipBefore = (await backend.listSinceBlock(null)).lastBlock;
      const cursor = await backend.chainTip();
      expect(cursor.hash).toBe(tipBefore);

      // Node B spends the same coin elsewhere and builds a longer chain.
      const conflict = (await b.rpc('createrawtransaction', input, {
        [(await b.walletRpc(b.minerWallet, 'getnewaddress')) as string]: new JsonNumber(coins(value - 100_000n)),
      })) as string;
      const conflictSigned = (await b.rpc('signrawtransactionwithkey', conflict, [key])) as { hex: string };
      await b.rpc('sendrawtransaction', conflictSigned.hex);
      await b.mine(3);

      await a.connect(b);
      await a.syncWith(b);

      const after = await backend.getTransaction(txid);
      expect(after.confirmations).toBeLessThan(0);
      expect(after.blockHash).toBeUndefined();
      // The node hides the receive lines of a conflicted transaction; the backend recovers them.
      expect(after.received).toEqual(before.received);
      expect(after.sent).toEqual([]);

      const since = await backend.listSinceBlock(tipBefore);
      expect(since.removed).toContain(txid);
      // The same through changesSince: the lost deposit is named in removed (its receive hidden).
      const changes = await backend.changesSince(cursor, 6);
      expect(changes.tip).toEqual(await backend.chainTip());
      expect(changes.removed).toContain(txid);
      expect(changes.transactions.map((tx) => tx.txid)).not.toContain(txid);
      expect((await backend.readTransactions([txid])).transactions[0]).toMatchObject({
        confirmations: after.confirmations,
        received: before.received,
      });
      // It left listtransactions, so a scan no longer lists it.
      const page = await backend.listReceived(null, 10);
      expect(page.transactions.map((tx) => tx.txid)).not.toContain(txid);
    });

    it('authenticates with the cookie file, also after the node restarted with a new cookie', async () => {
      const wallet = await b.createWallet('cookie');
      const backend = new BitcoindBackend({ config: b.backendConfig(wallet), coin: LTC, network });
      backends.push(backend);
      expect(b.backendConfig(wallet).auth.kind).toBe('cookie');
      const address = await backend.createAddress('cookie');
      expect(validateAddress(address, network).ok).toBe(true);
      expect(await backend.getBalance(0)).toBe(0n);

      await b.restart();
      expect(await backend.getBalance(0)).toBe(0n);
      await expect(backend.ping()).resolves.toBeUndefined();

      // Stopped: the cookie is gone and the port closed; reads and sends fail retryably.
      await b.shutdown();
      const read = await thrown(backend.getBalance(0));
      expect(read).toMatchObject({ code: 'node_unreachable', retryable: true });
      const send = await thrown(backend.sendMany([{ address, amount: 1000n }], { comment: 'node down' }));
      expect(send).toMatchObject({ code: 'node_unreachable', retryable: true });
    });
  });

  it('reports a stopped node as node_unreachable, retryable, and a send as not sent', async () => {
    const { backend } = await walletBackend(a, { fund: COIN });
    const address = await a.minerNewAddress();
    await a.shutdown();
    const started = Date.now();
    const read = await thrown(backend.getBalance(1));
    expect(read).toBeInstanceOf(BackendError);
    expect(read).toMatchObject({ code: 'node_unreachable', retryable: true });
    const send = await thrown(backend.sendMany([{ address, amount: 1000n }], { comment: 'stopped' }));
    expect(send).toMatchObject({ code: 'node_unreachable', retryable: true });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(String((read as Error).message)).not.toContain(a.password!);
  });
});
