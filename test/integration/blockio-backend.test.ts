/**
 * The ledger on the block.io backend, against the fake block.io: deposits credited at the
 * threshold and reversed when block.io drops them, batched withdrawals with one fee entry, a
 * submit whose answer is lost reconciled without a second send, a tampered preparation refused.
 * `verifyLedger` holds after each scenario, on every engine under test, for both kinds of block.io
 * account: native segwit addresses with change to `default`, and block.io's Bitcoin kind,
 * `P2WSH-over-P2SH` addresses with change back to the address spent from.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { syncWithChain } from '../../src/ledger/chain-sync.js';
import type { CoinLedger } from '../../src/ledger/coin-ledger.js';
import { reconcileBroadcasts } from '../../src/service/broadcast-reconciler.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { FAKE_API_KEY, FAKE_PIN, startBlockioPair, type BlockioPair } from '../fakes/blockio/harness.js';
import type { FakeBlockioOptions } from '../fakes/blockio/server.js';

const engines = await enginesUnderTest();
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-blockio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const accountKinds: readonly (readonly [string, Partial<FakeBlockioOptions>])[] = [
  ['WITNESS_V0, change to default', {}],
  ['P2WSH-over-P2SH, change to the spending address', { addressType: 'P2WSH-over-P2SH', changeTo: 'spending_address' }],
];
const cases = engines.flatMap((engine) => accountKinds.map(([kind, fakeOptions]) => [engine, kind, fakeOptions] as const));

describe.each(cases)('ledger on block.io (fake) on %s, %s', (engine, _kind, fakeOptions) => {
  let database: TestDatabase;
  let pair: BlockioPair;
  let app: CryptoAssets;
  let ltc: CoinLedger;

  async function open(config: Parameters<typeof startBlockioPair>[0] = {}): Promise<void> {
    pair = await startBlockioPair(config, fakeOptions);
    app = await CryptoAssets.open({
      database: database.options,
      coins: [{ coin: pair.coin, network: pair.network, backend: pair.backend }],
      migrate: true,
    });
    ltc = app.coin('ltc');
  }

  beforeEach(async () => {
    database = await createTestDatabase(engine);
  });

  afterEach(async () => {
    try {
      await expectLedgerConsistent(app);
    } finally {
      await app?.close();
      await pair?.close();
      await database.drop();
    }
  });

  async function account(name: string) {
    return ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount(name));
  }

  async function balanceOf(name: string): Promise<bigint> {
    return ltc.read(async (book) => (await (await book.wallet('main')).getAccount(name)).balance);
  }

  /** A deposit of `amount` to a new address of `name`, confirmed to the threshold and synced. */
  async function deposit(name: string, amount: bigint): Promise<string> {
    const address = await ltc.createReceivingAddress('main', await account(name));
    const txid = pair.fake.pay(address.address, amount);
    pair.fake.mine(pair.coin.confirmationThreshold);
    await syncWithChain(ltc);
    return txid;
  }

  async function withdraw(name: string, outputs: readonly { address: string; amount: bigint }[]): Promise<void> {
    await ltc.transaction(async (book) => {
      const main = await book.wallet('main');
      const from = await main.getAccount(name);
      for (const output of outputs) await main.withdraw(from, output.address, output.amount);
    });
  }

  it('credits a deposit at the threshold, not before', async () => {
    await open();
    pair.fake.fund(1_000n); // the tip is derived from a confirmed transaction of the account
    const alice = await account('alice');
    const address = await ltc.createReceivingAddress('main', alice);
    pair.fake.pay(address.address, 7_000_000n);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(0n);
    pair.fake.mine(pair.coin.confirmationThreshold - 1);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(0n);
    pair.fake.mine(1);
    const sync = await syncWithChain(ltc);
    expect(sync.updates.flatMap((update) => update.deposits.map((d) => d.change))).toContain('credited');
    expect(await balanceOf('alice')).toBe(7_000_000n);
    pair.fake.mine(1);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(7_000_000n);
  });

  it('reverses a credited deposit when block.io drops it (double spent), and when a reorganisation unconfirms it', async () => {
    await open();
    pair.fake.fund(1_000n);
    const dropped = await deposit('alice', 4_000_000n);
    expect(await balanceOf('alice')).toBe(4_000_000n);
    pair.fake.chain.drop(dropped);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(0n);

    await deposit('bob', 3_000_000n);
    expect(await balanceOf('bob')).toBe(3_000_000n);
    pair.fake.chain.reorg(pair.coin.confirmationThreshold);
    await syncWithChain(ltc);
    expect(await balanceOf('bob')).toBe(0n);
    pair.fake.mine(pair.coin.confirmationThreshold);
    await syncWithChain(ltc);
    expect(await balanceOf('bob')).toBe(3_000_000n);
  });

  it('sends queued withdrawals as one transaction (one submit) and books its fee once', async () => {
    await open();
    await deposit('alice', 40_000_000n);
    const [x, y] = [pair.fake.externalAddress(), pair.fake.externalAddress()];
    await withdraw('alice', [
      { address: x, amount: 1_000_000n },
      { address: y, amount: 2_000_000n },
      { address: x, amount: 3_000_000n },
    ]);
    const outcome = await ltc.broadcastPending('main');
    expect(outcome.status).toBe('sent');
    if (outcome.status !== 'sent') return;
    expect(pair.fake.requests.get('submit_transaction')).toBe(1);
    const onChain = pair.fake.chain.get(outcome.broadcast.txid!)!;
    expect(onChain.outputs).toContainEqual({ address: x, amount: 4_000_000n });
    expect(onChain.outputs).toContainEqual({ address: y, amount: 2_000_000n });
    const fee = outcome.broadcast.fee!;
    expect(fee).toBeGreaterThan(0n);
    const fees = await ltc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(fees.balance).toBe(-fee);
    pair.fake.mine(3);
    await syncWithChain(ltc);
    expect((await ltc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount())).balance).toBe(-fee);
    expect(await ltc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
  });

  it("credits nobody with a send's change, wherever block.io returns it (a customer's deposit address included)", async () => {
    await open();
    const aliceAddress = (await ltc.createReceivingAddress('main', await account('alice'))).address;
    pair.fake.pay(aliceAddress, 40_000_000n);
    pair.fake.mine(pair.coin.confirmationThreshold);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(40_000_000n);
    const to = pair.fake.externalAddress();
    await withdraw('alice', [{ address: to, amount: 5_000_000n }]);
    const outcome = await ltc.broadcastPending('main');
    expect(outcome.status).toBe('sent');
    if (outcome.status !== 'sent') return;
    const change = pair.fake.chain.get(outcome.broadcast.txid!)!.outputs.filter((output) => output.address !== to);
    expect(change).toHaveLength(1);
    if (fakeOptions.changeTo === 'spending_address') expect(change[0]!.address).toBe(aliceAddress);
    pair.fake.mine(pair.coin.confirmationThreshold + 1);
    await syncWithChain(ltc);
    expect(await balanceOf('alice')).toBe(35_000_000n);
    const fees = await ltc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(fees.balance).toBe(-outcome.broadcast.fee!);
  });

  it('closes a broadcast whose submit answer was lost with the txid block.io has, never submitting twice', async () => {
    await open({ timeoutMs: 400 });
    await deposit('alice', 40_000_000n);
    await withdraw('alice', [{ address: pair.fake.externalAddress(), amount: 5_000_000n }]);
    pair.fake.faults.hangAfterNextSubmit();
    const outcome = await ltc.broadcastPending('main');
    expect(outcome.status).toBe('sent');
    expect(pair.fake.requests.get('submit_transaction')).toBe(1);

    // The look-up after the lost answer fails too: the broadcast stays open, and the reconciler
    // closes it through findByComment instead of sending again.
    await withdraw('alice', [{ address: pair.fake.externalAddress(), amount: 6_000_000n }]);
    pair.fake.faults.hangAfterNextSubmit();
    // The first raw read proves the value of the batch's one input; the second is the look-up.
    pair.fake.faults.serverErrorNext('get_raw_transaction', 1);
    const interrupted = await ltc.broadcastPending('main');
    expect(interrupted.status).toBe('interrupted');
    expect(await ltc.broadcastPending('main')).toEqual({ status: 'nothing_to_send' });
    const reconciled = await reconcileBroadcasts(ltc, 'main', quiet);
    expect(reconciled.closed).toHaveLength(1);
    expect(pair.fake.requests.get('submit_transaction')).toBe(2);
    const broadcasts = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened', 'vetting', 'closed']));
    expect(broadcasts.map((b) => b.state)).toEqual(['closed', 'closed']);
    expect(new Set(broadcasts.map((b) => b.txid)).size).toBe(2);
  });

  it('refuses a tampered preparation: nothing submitted, the withdrawal waits and goes out untampered', async () => {
    await open();
    await deposit('alice', 40_000_000n);
    const to = pair.fake.externalAddress();
    await withdraw('alice', [{ address: to, amount: 2_000_000n }]);
    pair.fake.faults.tamperNext('foreign_change');
    const refused = await ltc.broadcastPending('main');
    expect(refused.status).toBe('returned');
    expect(pair.fake.requests.get('submit_transaction') ?? 0).toBe(0);
    const sent = await ltc.broadcastPending('main');
    expect(sent.status).toBe('sent');
    if (sent.status !== 'sent') return;
    expect(pair.fake.chain.get(sent.broadcast.txid!)?.outputs).toContainEqual({ address: to, amount: 2_000_000n });
  });

  it('doctor reaches block.io with the configured key and reports the account; a refused key fails without the key', async () => {
    await open();
    pair.fake.fund(2_000_000n);
    const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
    const path = join(dir, `doctor-${engine}.yaml`);
    const backend = `{type: blockio, api_key: "\${BLOCKIO_KEY}", pin: "\${BLOCKIO_PIN}", api_url: "${pair.fake.apiUrl}"}`;
    writeFileSync(
      path,
      `database:\n  url: "${url}"\ncoins:\n  ltc: {network: testnet, backend: ${backend}}\nstatus_server: {enabled: false}\n`,
    );
    const run = async (key: string) => {
      let out = '';
      let err = '';
      const code = await runCli(['node', 'cryptoassets', 'doctor', '-c', path], {
        out: (text) => (out += text),
        err: (text) => (err += text),
        env: { BLOCKIO_KEY: key, BLOCKIO_PIN: FAKE_PIN },
      });
      return { code, out, err };
    };
    const ok = await run(FAKE_API_KEY);
    expect(ok.err).toBe('');
    expect(ok.out).toContain('ok   ltc node: blockio backend reachable, tip at height 1');
    expect(ok.out).toContain('ok   ltc wallet: loaded, holds 0.02000000 ltc');
    expect(ok.code).toBe(0);
    const refused = await run('a-refused-key-77');
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/\nFAIL ltc node: .*API Key invalid/);
    expect(refused.out + refused.err).not.toContain('a-refused-key-77');
    expect(refused.out + refused.err).not.toContain(FAKE_PIN);
  });
});
