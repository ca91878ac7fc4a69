/**
 * The balance audit against a real Litecoin Core node in regtest (started by the test itself):
 * what `getbalance "*" minconf` counts, and the audit failing by the exact amount and fee of a
 * payment the node wallet makes outside the ledger.
 *
 * Deposits are recorded with `recordDeposit` from what the node says (txid, amount, depth), so
 * the test depends on the ledger and the backend's `getBalance`/`sendMany` only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import type { CoinBackend } from '../../src/backends/backend.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { parseConfig } from '../../src/config/load.js';
import { parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import type { CheckedNodeAudit } from '../../src/ledger/node-audit.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { describeWithNode, RegtestNode } from '../helpers/regtest.js';

const THRESHOLD = LTC.confirmationThreshold;

describeWithNode()('balance audit against Litecoin Core (regtest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-audit-node-'));
  let node: RegtestNode;
  let wallet: string;
  let app: CryptoAssets;
  let ltc: CoinLedger;
  let backend: CoinBackend;
  let run = 0;

  beforeAll(async () => {
    node = await RegtestNode.start();
  });
  afterAll(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Each test: a fresh node wallet and a fresh ledger, so nothing else holds money in either.
  beforeEach(async () => {
    wallet = await node.createWallet('audit');
    const config = parseConfig({
      database: { url: `sqlite:${join(dir, `ledger-${++run}.sqlite`)}` },
      coins: {
        ltc: { network: 'regtest', backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet } },
      },
    });
    app = await openFromConfig(config, { migrate: true });
    ltc = app.coin('ltc');
    backend = ltc.backend;
  });
  afterEach(async () => {
    await app.close();
  });

  const units = (text: string) => parseAmount(text, LTC);

  async function audit(): Promise<CheckedNodeAudit> {
    const check = await app.verifyLedger({ node: true });
    expect(check.booksOk).toBe(true);
    expect(check.coins[0]!.node?.status).toBe('checked');
    return check.coins[0]!.node as CheckedNodeAudit;
  }

  /** Record a deposit as the node reports it now. */
  async function recordAsNodeSays(txid: string, address: string, amount: bigint): Promise<void> {
    const info = (await node.walletRpc(wallet, 'gettransaction', txid)) as { confirmations: JsonNumber };
    await ltc.transaction((book) =>
      book.recordDeposit({ txid, confirmations: info.confirmations.toNumber(), outputs: [{ address, amount }] }),
    );
  }

  async function feeOf(txid: string): Promise<bigint> {
    const info = (await node.walletRpc(wallet, 'gettransaction', txid)) as { fee: JsonNumber };
    return -parseAmount(info.fee.text, LTC, { allowNegative: true });
  }

  it('agrees through a deposit and a batched withdrawal, and fails by amount plus fee after a send outside the ledger', async () => {
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const { address } = await ltc.createReceivingAddress('main', alice);
    const deposit = units('1.5');
    const txid = await node.fund(address, '1.5');

    // 0 confirmations: somebody else's unconfirmed payment, which the node does not trust yet.
    await recordAsNodeSays(txid, address, deposit);
    let result = await audit();
    expect(result).toMatchObject({ ok: true, nodeBalance: 0n, difference: 0n, unaccounted: 0n });
    expect(result.ledger.incomingDeposits).toBe(deposit);

    // 1 confirmation, below the threshold: the node counts it, the ledger does not credit it yet.
    await node.mine(1);
    await recordAsNodeSays(txid, address, deposit);
    result = await audit();
    expect(result).toMatchObject({ ok: true, nodeBalance: deposit, difference: deposit, unaccounted: 0n });
    expect(result.explanations.map((item) => item.kind)).toEqual(['incoming_deposits']);

    await node.mine(THRESHOLD - 1);
    await recordAsNodeSays(txid, address, deposit);
    result = await audit();
    expect(result).toMatchObject({ ok: true, nodeBalance: deposit, difference: 0n, explanations: [] });
    expect(result.ledger.creditedDeposits).toBe(deposit);

    // A batch of two withdrawals, one sendmany, its fee booked.
    await ltc.transaction(async (book) => {
      const main = await book.wallet('main');
      await main.withdraw(alice, await node.minerNewAddress(), units('0.3'));
      await main.withdraw(alice, await node.minerNewAddress(), units('0.2'));
    });
    const outcome = await ltc.broadcastPending('main');
    if (outcome.status !== 'sent') throw new Error(`broadcast ${outcome.status}`);
    const fee = outcome.broadcast.fee!;
    expect(fee).toBe(await feeOf(outcome.broadcast.txid!));
    const expected = deposit - units('0.5') - fee;

    // Its change is unconfirmed: minconf 0 counts it (our own, trusted); minconf 1 and the
    // threshold do not, which is why the audit reads the balance at 0.
    result = await audit();
    expect(result).toMatchObject({ ok: true, nodeBalance: expected, difference: 0n, explanations: [] });
    expect(await backend.getBalance(1)).toBe(0n);
    expect(await backend.getBalance(THRESHOLD)).toBe(0n);
    await node.mine(1);
    expect(await audit()).toMatchObject({ ok: true, nodeBalance: expected, difference: 0n });
    expect(await backend.getBalance(THRESHOLD)).toBe(0n);

    // The node wallet pays outside the ledger.
    const outside = units('0.12345678');
    const stray = (await node.walletRpc(wallet, 'sendtoaddress', await node.minerNewAddress(), new JsonNumber('0.12345678'))) as string;
    const shortfall = outside + (await feeOf(stray));
    const check = await app.verifyLedger({ node: true });
    expect(check).toMatchObject({ ok: false, booksOk: true });
    expect(check.problems).toEqual([`ltc: the node wallet holds ${shortfall} base units less than the ledger expects`]);
    expect(check.coins[0]!.node).toMatchObject({ nodeBalance: expected - shortfall, difference: -shortfall, shortfall });
  });

  it('reports money sent to the node wallet outside the ledger as unaccounted', async () => {
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const { address } = await ltc.createReceivingAddress('main', alice);
    const txid = await node.fund(address, '0.4');
    await node.fund((await node.walletRpc(wallet, 'getnewaddress')) as string, '2.25');
    await node.mine(THRESHOLD);
    await recordAsNodeSays(txid, address, units('0.4'));
    const result = await audit();
    expect(result).toMatchObject({ ok: true, nodeBalance: units('2.65'), difference: units('2.25'), unaccounted: units('2.25') });
    expect(result.explanations.map((item) => item.kind)).toEqual(['unaccounted']);
  });

  it('fails while the node has lost a credited deposit to a reorganisation, and holds again once the ledger reverses it', async () => {
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const { address } = await ltc.createReceivingAddress('main', alice);
    const txid = await node.fund(address, '0.75');
    const [first] = await node.mine(THRESHOLD);
    await recordAsNodeSays(txid, address, units('0.75'));
    expect((await audit()).difference).toBe(0n);

    await node.rpc('invalidateblock', first);
    await node.settle();
    const check = await app.verifyLedger({ node: true });
    expect(check.problems).toEqual([`ltc: the node wallet holds ${units('0.75')} base units less than the ledger expects`]);

    await recordAsNodeSays(txid, address, units('0.75')); // back in the mempool: the credit is reversed
    expect(await audit()).toMatchObject({ ok: true, difference: 0n, shortfall: 0n });
    await node.rpc('reconsiderblock', first);
    await node.settle();
  });
});
