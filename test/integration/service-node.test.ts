/**
 * The helper service against a real Litecoin Core node in regtest, started by the test itself.
 *
 * Three services, each with its own SQLite ledger and one notification style (HTTP, named pipe,
 * Redis), share one node wallet; the node's single `walletnotify` line feeds all three. Each test
 * ends with the ledger check, and with the node agreeing with the ledger: what the node's wallet
 * received on our addresses at the threshold equals what the ledger credited.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { describeWithNode, freePort, RegtestNode, waitUntil } from '../helpers/regtest.js';

const STYLES = ['http', 'pipe', 'redis'] as const;
type Style = (typeof STYLES)[number];
const quiet: LedgerLog = { info() {}, warn() {}, error() {} };

interface Running {
  readonly style: Style;
  readonly config: Config;
  app: CryptoAssets;
  service: HelperService;
}

describeWithNode()('helper service with Litecoin Core (regtest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-service-node-'));
  const fifo = join(dir, 'walletnotify.fifo');
  const channel = `cryptoassets-test-${randomBytes(4).toString('hex')}`;
  let wallet = 'ledger';
  let node: RegtestNode;
  let httpPort: number;
  const running = new Map<Style, Running>();

  function configFor(style: Style): Config {
    const walletnotify =
      style === 'http'
        ? { type: 'http', host: '127.0.0.1', port: httpPort }
        : style === 'pipe'
          ? { type: 'pipe', path: fifo }
          : { type: 'redis', url: 'redis://127.0.0.1:6379', channel };
    return parseConfig({
      database: { url: `sqlite:${join(dir, `${style}.sqlite`)}` },
      coins: {
        ltc: {
          network: 'regtest',
          backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet, timeout_ms: 8_000 },
          walletnotify,
        },
      },
      status_server: { enabled: false },
      service: { broadcast_period: 0.2, poll_period: 0.2, log_level: 'silent' },
    });
  }

  async function start(style: Style): Promise<Running> {
    const config = running.get(style)?.config ?? configFor(style);
    const app = await openFromConfig(config, { migrate: true });
    // The lease must outlast two request time limits (see service/timings.ts).
    const service = new HelperService(app, config, quiet, { leaseTtlMs: 20_000 });
    await service.start();
    await waitUntil(async () => (await service.status()).coins[0]!.startupRescanDone, 30_000, `${style} service start-up`);
    const entry = { style, config, app, service };
    running.set(style, entry);
    return entry;
  }

  async function stop(style: Style): Promise<void> {
    const entry = running.get(style)!;
    await entry.service.stop();
    await entry.app.close();
  }

  /** The ledger check, and the node agreeing with every credited deposit of the ledger. */
  async function expectNodeAgrees(entry: Running): Promise<void> {
    await expectLedgerConsistent(entry.app);
    const ltc = entry.app.coin('ltc');
    const { addresses, credited } = await ltc.read(async (book) => {
      const main = await book.getOrCreateWallet('main').catch(() => book.wallet('main'));
      const deposits = await main.deposits();
      return {
        addresses: await main.listReceivingAddresses({ archived: 'include' }),
        credited: deposits.filter((d) => d.state === 'credited').reduce((sum, d) => sum + d.amount, 0n),
      };
    });
    let received = 0n;
    for (const address of addresses) {
      const amount = (await node.walletRpc(wallet, 'getreceivedbyaddress', address.address, LTC.confirmationThreshold)) as JsonNumber;
      received += parseAmount(amount.text, LTC, { allowZero: true });
    }
    expect(credited).toBe(received);
  }

  async function account(entry: Running, name: string) {
    return entry.app.coin('ltc').transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount(name));
  }

  async function balance(entry: Running, name: string): Promise<bigint> {
    return entry.app.coin('ltc').read(async (book) => (await (await book.wallet('main')).getAccount(name)).balance);
  }

  beforeAll(async () => {
    httpPort = await freePort();
    // One line, three styles: each service hears of every wallet transaction its own way.
    const walletnotify =
      `curl --silent --max-time 5 --data txid=%s http://127.0.0.1:${httpPort}/ ; ` +
      `test -p ${fifo} && echo %s > ${fifo} ; ` +
      `redis-cli -h 127.0.0.1 publish ${channel} %s > /dev/null`;
    node = await RegtestNode.start({ walletnotify });
    wallet = await node.createWallet('ledger'); // loaded again after node.restart()
    for (const style of STYLES) await start(style);
  });

  afterAll(async () => {
    for (const style of running.keys()) await stop(style).catch(() => undefined);
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(STYLES)(
    'hears of a deposit by %s at 0 confirmations, credits it at the threshold once, tracks it to the limit',
    async (style) => {
      const entry = running.get(style)!;
      const alice = await account(entry, `alice-${style}`);
      const address = await entry.app.coin('ltc').createReceivingAddress('main', alice);
      const txid = await node.fund(address.address, '0.5');
      // Only a notification can bring a new transaction in: polling tracks known ones, the rescan ran at start.
      await waitUntil(
        async () =>
          (await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).deposits({ account: alice }))).some(
            (d) => d.txid === txid,
          ),
        20_000,
        `the ${style} notification`,
      );
      const [incoming] = await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).deposits({ account: alice }));
      expect(incoming).toMatchObject({ state: 'incoming', amount: 50_000_000n, txid });
      expect(await balance(entry, `alice-${style}`)).toBe(0n);

      await node.mine(LTC.confirmationThreshold);
      await waitUntil(async () => (await balance(entry, `alice-${style}`)) === 50_000_000n, 20_000, 'crediting');
      await node.mine(LTC.trackingLimit);
      await waitUntil(
        async () => (await entry.app.coin('ltc').read((book) => book.trackedTransactions())).length === 0,
        20_000,
        'tracking to end',
      );
      expect(await balance(entry, `alice-${style}`)).toBe(50_000_000n);
      const status = await entry.service.status();
      expect(status.coins[0]!.listener!.received).toBeGreaterThan(0);
      await expectNodeAgrees(entry);
    },
  );

  it('sends 50 queued withdrawals as one sendmany with one fee entry', async () => {
    const entry = running.get('http')!;
    const payer = await account(entry, 'payer');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', payer);
    await node.fund(address.address, '2');
    await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => (await balance(entry, 'payer')) === 200_000_000n, 20_000, 'funding');
    await entry.service.stop(); // queue all 50 before the broadcaster looks
    const destinations: string[] = [];
    for (let i = 0; i < 50; i++) destinations.push(await node.minerNewAddress());
    await entry.app.coin('ltc').transaction(async (book) => {
      const main = await book.wallet('main');
      for (const [i, destination] of destinations.entries()) await main.withdraw(payer, destination, BigInt(1_000_000 + i));
    });
    await entry.app.close();
    await start('http');
    const fresh = running.get('http')!;
    const [broadcast] = await waitUntilValue(async () => {
      const closed = await fresh.app.coin('ltc').read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return closed.length > 0 ? closed : undefined;
    }, 'the broadcast');
    const onNode = (await node.walletRpc(wallet, 'gettransaction', broadcast!.txid)) as {
      details: unknown[];
      fee: JsonNumber;
      comment?: string;
    };
    expect(onNode.details.filter((d) => (d as { category: string }).category === 'send')).toHaveLength(50);
    expect(onNode.comment).toBe(broadcast!.comment);
    const fee = -parseAmount(onNode.fee.text, LTC, { allowNegative: true });
    expect(broadcast!.fee).toBe(fee);
    const feeAccount = await fresh.app.coin('ltc').read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(feeAccount.balance).toBe(-fee);
    const withdrawals = await fresh.app.coin('ltc').read(async (book) => (await book.wallet('main')).pendingWithdrawals());
    expect(withdrawals).toEqual([]);
    await expectNodeAgrees(fresh);
  });

  it('reverses a credit when its block is invalidated, and credits it again when reconsidered', async () => {
    const entry = running.get('redis')!;
    const bob = await account(entry, 'bob');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', bob);
    await node.fund(address.address, '0.25');
    const [first] = await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => (await balance(entry, 'bob')) === 25_000_000n, 20_000, 'crediting');
    await node.rpc('invalidateblock', first);
    await node.settle();
    await waitUntil(async () => (await balance(entry, 'bob')) === 0n, 20_000, 'the reversal');
    await expectLedgerConsistent(entry.app);
    await node.rpc('reconsiderblock', first);
    await node.settle();
    await waitUntil(async () => (await balance(entry, 'bob')) === 25_000_000n, 20_000, 'the credit again');
    const history = await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).accountHistory(bob));
    expect(history.map((e) => e.kind)).toEqual(['deposit_credit', 'deposit_reversal', 'deposit_credit']);
    await expectNodeAgrees(entry);
  });

  it('reverses a credit lost to a double spend on another node', async () => {
    const entry = running.get('pipe')!;
    const carol = await account(entry, 'carol');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', carol);
    // The payer's node does not broadcast its wallet's transactions: we decide who sees what.
    const other = await RegtestNode.start({ mature: false, extraConfig: ['walletbroadcast=0'] });
    try {
      await other.connect(node);
      await other.syncWith(node);
      const payerAddress = await other.minerNewAddress();
      await node.fund(payerAddress, '1');
      await node.mine(1);
      await other.syncWith(node);
      await other.isolate();
      // The payment reaches our node only; our side of the split confirms it and credits it.
      const txid = (await other.walletRpc(other.minerWallet, 'sendtoaddress', address.address, new JsonNumber('0.3'))) as string;
      const { hex } = (await other.walletRpc(other.minerWallet, 'gettransaction', txid)) as { hex: string };
      await node.rpc('sendrawtransaction', hex);
      await node.mine(LTC.confirmationThreshold);
      await waitUntil(async () => (await balance(entry, 'carol')) === 30_000_000n, 20_000, 'crediting');

      // On the other side, the payer spends the same coins to itself, and its chain grows longer.
      await other.walletRpc(other.minerWallet, 'abandontransaction', txid);
      const raw = (await other.rpc('decoderawtransaction', hex)) as { vin: { txid: string; vout: JsonNumber }[] };
      let inputTotal = 0n;
      for (const input of raw.vin) {
        const previous = (await other.rpc('getrawtransaction', input.txid, true)) as { vout: { value: JsonNumber }[] };
        inputTotal += parseAmount(previous.vout[input.vout.toNumber()]!.value.text, LTC);
      }
      const spend = (await other.rpc(
        'createrawtransaction',
        raw.vin.map((input) => ({ txid: input.txid, vout: input.vout })),
        { [await other.minerNewAddress()]: new JsonNumber(formatLtc(inputTotal - 100_000n)) },
      )) as string;
      const signed = (await other.walletRpc(other.minerWallet, 'signrawtransactionwithwallet', spend)) as { hex: string };
      await other.rpc('sendrawtransaction', signed.hex);
      await other.mine(LTC.confirmationThreshold + 3);
      await other.connect(node);
      await node.syncWith(other, 30_000);
      await waitUntil(async () => (await balance(entry, 'carol')) === 0n, 30_000, 'the reversal');
      const [deposit] = await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).deposits({ account: carol }));
      expect(deposit!.state).toBe('incoming');
      await expectNodeAgrees(entry);
    } finally {
      await other.stop();
    }
  });

  it('keeps withdrawals waiting while the node is down, then sends them once', async () => {
    const entry = running.get('http')!;
    const dave = await account(entry, 'dave');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', dave);
    await node.fund(address.address, '0.5');
    await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => (await balance(entry, 'dave')) === 50_000_000n, 20_000, 'funding');
    const target = await node.minerNewAddress();
    await node.shutdown();
    let withdrawal;
    try {
      withdrawal = await entry.app.coin('ltc').transaction(async (book) => (await book.wallet('main')).withdraw(dave, target, 1_000_000n));
      // Several broadcaster rounds against a dead node: each refused before sending, each returned to the queue.
      await waitUntil(
        async () =>
          (await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).listBroadcasts(['returned']))).length >= 3,
        20_000,
        'broadcasts returned while the node is down',
      );
      expect((await entry.service.status()).coins[0]!.nodeReachable).toBe(false);
    } finally {
      await node.restart();
    }
    const sent = await waitUntilValue(async () => {
      const current = await entry.app.coin('ltc').read(async (book) => (await book.wallet('main')).getTransaction(withdrawal.id));
      return current.state === 'broadcasted' ? current : undefined;
    }, 'the withdrawal to go out').catch(async (error: unknown) => {
      const states = await entry.app
        .coin('ltc')
        .read(async (book) => (await book.wallet('main')).listBroadcasts(['opened', 'vetting', 'returned', 'closed']));
      throw new Error(`${String(error)}; broadcasts: ${JSON.stringify(states.map((b) => [b.id, b.state]))}`);
    });
    const [broadcast] = await entry.app
      .coin('ltc')
      .read(async (book) =>
        (await (await book.wallet('main')).listBroadcasts(['closed'])).filter((b) => b.id === sent.networkTransactionId),
      );
    expect(await sendsWithComment(broadcast!.comment!)).toBe(1);
    const received = (await node.walletRpc(node.minerWallet, 'getreceivedbyaddress', target, 0)) as JsonNumber;
    expect(received.text).toBe('0.01000000');
    await expectNodeAgrees(entry);
  });

  async function sendsWithComment(comment: string): Promise<number> {
    const listed = (await node.walletRpc(wallet, 'listtransactions', '*', 1000, 0, true)) as {
      comment?: string;
      category: string;
      txid: string;
    }[];
    return new Set(listed.filter((entry) => entry.category === 'send' && entry.comment === comment).map((entry) => entry.txid)).size;
  }

  it('reconciles a broadcast the node sent just before the service died, sending nothing twice', async () => {
    const entry = running.get('http')!;
    const erin = await account(entry, 'erin');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', erin);
    await node.fund(address.address, '0.5');
    await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => (await balance(entry, 'erin')) === 50_000_000n, 20_000, 'funding');
    await stop('http');
    // The state a SIGKILL between "opened" and "closed" leaves: opened in the database, sent on the node.
    const app = await openFromConfig(entry.config);
    const opened = await app.coin('ltc').transaction(async (book) => {
      const main = await book.wallet('main');
      await main.withdraw(erin, await node.minerNewAddress(), 2_000_000n);
      return main.openBroadcast();
    });
    const sent = await app.coin('ltc').backend.sendMany(opened!.outputs, { comment: opened!.broadcast.comment! });
    await app.close();
    const restarted = await start('http');
    const broadcast = await waitUntilValue(async () => {
      const closed = await restarted.app.coin('ltc').read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return closed.find((b) => b.id === opened!.broadcast.id);
    }, 'reconciliation');
    expect(broadcast.txid).toBe(sent.txid);
    expect(broadcast.fee).toBe(sent.fee);
    expect(await sendsWithComment(opened!.broadcast.comment!)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a few broadcaster rounds
    expect(await sendsWithComment(opened!.broadcast.comment!)).toBe(1);
    await expectNodeAgrees(restarted);
  });

  it('finds deposits notified while the service was down with its start-up rescan', async () => {
    const entry = running.get('redis')!;
    const frank = await account(entry, 'frank');
    const address = await entry.app.coin('ltc').createReceivingAddress('main', frank);
    await stop('redis');
    await node.fund(address.address, '0.125');
    await node.mine(LTC.confirmationThreshold);
    const restarted = await start('redis');
    await waitUntil(async () => (await balance(restarted, 'frank')) === 12_500_000n, 20_000, 'the rescan to credit');
    await expectNodeAgrees(restarted);
  });

  it('logs and ignores a notification for an unknown or malformed txid', async () => {
    const entry = running.get('http')!;
    const before = (await entry.service.status()).coins[0]!.listener!;
    const unknown = await fetch(`http://127.0.0.1:${httpPort}/`, {
      method: 'POST',
      body: `txid=${'cd'.repeat(32)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(unknown.status).toBe(200);
    const malformed = await fetch(`http://127.0.0.1:${httpPort}/`, {
      method: 'POST',
      body: 'txid=zz',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(malformed.status).toBe(400);
    await waitUntil(
      async () =>
        (await entry.service.metrics.registry.getSingleMetricAsString('cryptoassets_notifications_total')).includes('unknown_txid'),
      10_000,
      'the unknown txid',
    );
    const after = (await entry.service.status()).coins[0]!.listener!;
    expect(after.rejected).toBe(before.rejected + 1);
    await expectNodeAgrees(entry);
  });
});

async function waitUntilValue<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  let value: T | undefined;
  await waitUntil(async () => (value = await probe()) !== undefined, timeoutMs, what);
  return value!;
}

function formatLtc(units: bigint): string {
  const text = units.toString().padStart(9, '0');
  return `${text.slice(0, -8)}.${text.slice(-8)}`;
}
