/**
 * The helper service on the in-memory chain, on both engines: notifications over real HTTP,
 * crediting through polling, batched broadcasts, the lease, reconciliation of an interrupted
 * broadcast, the status server. (The same against a real node: service-node.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { CryptoAssets } from '../../src/app.js';
import { BTC } from '../../src/domain/coins.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { HelperService } from '../../src/service/helper-service.js';
import { StatusServer } from '../../src/service/status-server.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import { enginesUnderTest } from '../helpers/engines.js';
import { expectLedgerConsistent, openTestLedger, type TestLedger } from '../helpers/ledger.js';
import { eventually } from '../helpers/waiting.js';

const engines = await enginesUnderTest();

/** Collects log lines so tests can assert what was reported. */
class MemoryLog implements LedgerLog {
  readonly lines: { level: string; message: string; fields: object }[] = [];
  info(fields: object, message: string) {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(fields: object, message: string) {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(fields: object, message: string) {
    this.lines.push({ level: 'error', message, fields });
  }
  has(level: string, fragment: string): boolean {
    return this.lines.some((line) => line.level === level && line.message.includes(fragment));
  }
}

function serviceConfig(withHttpNotify: boolean): Config {
  return parseConfig({
    database: { url: 'sqlite::memory:' },
    coins: {
      btc: {
        network: 'regtest',
        backend: { type: 'memory' },
        ...(withHttpNotify ? { walletnotify: { type: 'http', host: '127.0.0.1', port: 0 } } : {}),
      },
    },
    status_server: { host: '127.0.0.1', port: 0 },
    service: { broadcast_period: 0.05, poll_period: 0.05, log_level: 'silent' },
  });
}

describe.each(engines)('helper service on %s (in-memory chain)', (engine) => {
  let ledger: TestLedger;
  let log: MemoryLog;
  const services: HelperService[] = [];

  beforeEach(async () => {
    log = new MemoryLog();
    ledger = await openTestLedger(engine, BTC, { log }); // the ledger logs broadcasts and refusals
  });
  afterEach(async () => {
    for (const service of services.splice(0)) await service.stop();
    await ledger.finish();
  });

  function startService(config: Config, app: CryptoAssets = ledger.app, leaseTtlMs = 2_000): HelperService {
    const service = new HelperService(app, config, log, { leaseTtlMs });
    services.push(service);
    return service;
  }

  /**
   * The chain wallet holds `amount`, imported onto a `house` account of wallet `main`, and one
   * withdrawal per amount in `withdrawals` is queued from it.
   */
  async function houseWithWithdrawals(amount: bigint, withdrawals: readonly bigint[], onChain = true): Promise<void> {
    if (onChain) ledger.chain.fund(ledger.backend, amount);
    await ledger.app.coin('btc').transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      const house = await wallet.createAccount('house');
      await wallet.importUnaccountedBalance(house, amount, 'test funds');
      for (const withdrawal of withdrawals) await wallet.withdraw(house, ledger.chain.externalAddress(), withdrawal);
    });
  }

  /** The wallet's first closed broadcast, once the service has sent one. */
  function firstClosedBroadcast() {
    return eventually(async () => {
      const [closed] = await ledger.app.coin('btc').read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return closed;
    }, 'the broadcast');
  }

  async function notifyUrl(service: HelperService): Promise<string> {
    const status = await service.status();
    return status.coins[0]!.listener!.endpoint;
  }

  it('credits a notified deposit at the threshold, once, and tracks it to the limit', async () => {
    const btc = ledger.app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    const service = startService(serviceConfig(true));
    await service.start();
    await eventually(async () => (await service.status()).state === 'running', 'the service to run');

    const txid = ledger.chain.pay(address.address, 70_000n);
    const response = await fetch(await notifyUrl(service), {
      method: 'POST',
      body: `txid=${txid}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(200);
    const incoming = await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).deposits()))[0],
      'the deposit to be recorded',
    );
    expect(incoming).toMatchObject({ state: 'incoming', amount: 70_000n, txid });
    await eventually(async () => (await service.status()).coins[0]!.trackedTransactions === 1, 'the status to count it as tracked');
    expect(await btc.read((book) => book.trackedCount())).toBe(1);

    ledger.chain.mine(BTC.confirmationThreshold);
    await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).getAccount(alice))).balance === 70_000n,
      'crediting',
    );
    ledger.chain.mine(BTC.trackingLimit);
    await eventually(async () => (await btc.read((book) => book.trackedTransactions())).length === 0, 'tracking to stop at the limit');
    await eventually(async () => (await service.status()).coins[0]!.trackedTransactions === 0, 'the status to count none');
    expect(await service.metrics.registry.getSingleMetricAsString('cryptoassets_tracked_transactions')).toContain('coin="btc"} 0');
    expect(await service.metrics.registry.getSingleMetricAsString('cryptoassets_deposits_credited_total')).toContain('coin="btc"} 1');
  });

  it('ignores notifications of unknown and malformed txids, and keeps working', async () => {
    const service = startService(serviceConfig(true));
    await service.start();
    // Until it holds the lease a service ignores notifications (its start-up rescan covers them).
    await eventually(async () => (await service.status()).state === 'running', 'the service to run');
    const url = await notifyUrl(service);
    const form = { 'content-type': 'application/x-www-form-urlencoded' }; // what curl --data sends
    expect((await fetch(url, { method: 'POST', body: `txid=${'ab'.repeat(32)}`, headers: form })).status).toBe(200);
    expect((await fetch(url, { method: 'POST', body: 'txid=not-a-txid', headers: form })).status).toBe(400);
    await eventually(async () => log.has('warn', 'does not know'), 'the unknown txid to be reported');
    const metrics = await service.metrics.registry.getSingleMetricAsString('cryptoassets_notifications_total');
    expect(metrics).toContain('result="unknown_txid"} 1');
  });

  it('sends 50 queued withdrawals as one transaction with one fee entry', async () => {
    const btc = ledger.app.coin('btc');
    await houseWithWithdrawals(
      10_000_000n,
      Array.from({ length: 50 }, (_, i) => BigInt(1_000 + i)),
    );
    const mempoolBefore = ledger.chain.mempool.length;
    const service = startService(serviceConfig(false));
    await service.start();
    const [broadcast] = await eventually(async () => {
      const closed = await btc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return closed.length > 0 ? closed : undefined;
    }, 'the broadcast to close');
    expect(await btc.read(async (book) => (await book.wallet('main')).pendingWithdrawals())).toEqual([]);
    expect(ledger.chain.inspect(broadcast!.txid!)!.outputs.filter((output) => output.amount < 2_000n)).toHaveLength(50);
    expect(ledger.chain.mempool.length - mempoolBefore).toBe(1);
    const fees = await btc.read(async (book) => (await book.wallet('main')).getNetworkFeeAccount());
    expect(fees.balance).toBe(-ledger.chain.feeFor(50));
    await expectLedgerConsistent(ledger.app);
  });

  it('tracks a send to our own address as both our broadcast and a deposit', async () => {
    const btc = ledger.app.coin('btc');
    await houseWithWithdrawals(1_000_000n, []);
    const bob = await btc.transaction(async (book) => (await book.wallet('main')).createAccount('bob'));
    const own = await btc.createReceivingAddress('main', bob);
    await btc.transaction(async (book) => {
      const wallet = await book.wallet('main');
      await wallet.send(await wallet.getAccount('house'), own.address, 40_000n, 'through the chain', { forceExternal: true });
    });
    const service = startService(serviceConfig(false));
    await service.start();
    const broadcast = await firstClosedBroadcast();
    ledger.chain.mine(BTC.confirmationThreshold);
    await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).getAccount(bob))).balance === 40_000n,
      'the deposit to ourselves',
    );
    const [deposit] = await btc.read(async (book) => (await book.wallet('main')).deposits({ account: bob }));
    expect(deposit).toMatchObject({ txid: broadcast.txid, amount: 40_000n, state: 'credited' });
    const tracked = await btc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
    expect(tracked[0]!.confirmations).toBeGreaterThanOrEqual(BTC.confirmationThreshold);
    await expectLedgerConsistent(ledger.app);
  });

  it('reports a broadcast of ours that lost to a double spend as conflicted, never as confirmed', async () => {
    await houseWithWithdrawals(1_000_000n, [30_000n]);
    const service = startService(serviceConfig(false));
    await service.start();
    const broadcast = await firstClosedBroadcast();
    ledger.chain.doubleSpend(broadcast.txid!);
    ledger.chain.mine(BTC.confirmationThreshold);
    const status = await eventually(async () => {
      const snapshot = await service.status();
      return snapshot.coins[0]!.wallets[0]!.conflictedBroadcasts.length === 1 ? snapshot : undefined;
    }, 'the conflict to show');
    expect(status.coins[0]!.wallets[0]!.conflictedBroadcasts).toEqual([broadcast.id]);
    await sequenceEvents(ledger.app.database);
    const events = (await ledger.app.events.after(0n, 1000)).filter((e) => e.data.transactionType === 'broadcast');
    const last = events.at(-1)!;
    expect(last.data).toMatchObject({ conflicted: true, credited: false, change: 'confirmations' });
    expect(log.has('error', 'conflicted on the network')).toBe(true);
  });

  it('reconciles a broadcast whose answer was lost: closed by its comment, never sent twice', async () => {
    const btc = ledger.app.coin('btc');
    await houseWithWithdrawals(1_000_000n, [5_000n]);
    ledger.chain.failNext('sendMany', 'garbage'); // the node sends, the answer is lost
    const mempoolBefore = ledger.chain.mempool.length;
    const service = startService(serviceConfig(false));
    await service.start();
    const closed = await eventually(async () => {
      const [broadcast] = await btc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return broadcast;
    }, 'the broadcast to be reconciled');
    expect(ledger.chain.mempool.length - mempoolBefore).toBe(1);
    expect(ledger.chain.inspect(closed.txid!)?.comment).toBe(closed.comment);
    expect(log.has('warn', 'had been sent')).toBe(true);
  });

  it('puts a broadcast the node never saw up for vetting', async () => {
    const btc = ledger.app.coin('btc');
    await houseWithWithdrawals(10_000n, [5_000n], false);
    await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast()); // as if the process died right after opening
    const service = startService(serviceConfig(false));
    await service.start();
    const status = await eventually(async () => {
      const snapshot = await service.status();
      return snapshot.coins[0]!.wallets[0]!.broadcastsToVet.length === 1 ? snapshot : undefined;
    }, 'vetting');
    expect(status.coins[0]!.wallets[0]!.queuedWithdrawals).toBe(0);
    expect(log.has('error', 'a person must vet it')).toBe(true);
  });

  it('retries the start-up rescan while the node is down, then finds the missed deposit', async () => {
    const btc = ledger.app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    ledger.chain.pay(address.address, 1_234n); // nobody was listening
    ledger.chain.mine(3);
    ledger.chain.setDown(true);
    const service = startService(serviceConfig(false));
    await service.start();
    await eventually(async () => (await service.status()).coins[0]!.nodeReachable === false, 'the node to be seen down');
    expect((await service.status()).coins[0]!.startupRescanDone).toBe(false);
    ledger.chain.setDown(false);
    await eventually(async () => (await service.status()).coins[0]!.startupRescanDone, 'the rescan');
    expect(await btc.read(async (book) => (await (await book.wallet('main')).getAccount(alice)).balance)).toBe(1_234n);
  });

  it('lets only one service work on a database; the standby takes over when it stops', async () => {
    const config = serviceConfig(false);
    const first = startService(config, ledger.app, 600);
    await first.start();
    await eventually(async () => first.currentState === 'running', 'the first service to run');
    const second = startService(config, ledger.app, 600);
    await second.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(second.currentState).toBe('standby');
    expect((await second.status()).lease.holder).toBe(first.instance);
    await first.stop();
    await eventually(async () => second.currentState === 'running', 'the standby to take over');
  });

  it('credits a deposit with no notification configured within two poll periods', async () => {
    const btc = ledger.app.coin('btc');
    const config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      status_server: { enabled: false },
      service: { broadcast_period: 1, poll_period: 0.25, log_level: 'silent' },
    });
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    const service = startService(config);
    await service.start();
    await eventually(async () => (await service.status()).coins[0]!.startupRescanDone, 'the first sync');
    ledger.chain.pay(address.address, 7_000n);
    ledger.chain.mine(3);
    const paidAt = Date.now();
    await eventually(
      async () => (await btc.read(async (book) => (await book.wallet('main')).getAccount('alice'))).balance === 7_000n,
      'the credit',
    );
    // Two poll periods (0.5 s), with room for a busy machine's scheduling.
    expect(Date.now() - paidAt).toBeLessThan(5_000);
    expect((await service.status()).coins[0]!.cursor?.height).toBe(ledger.chain.height);
  });

  it('isolates a withdrawal the node refuses, sends the others, and shows it on the status page', async () => {
    // The books hold 200,000 for the house; the node wallet only 100,000.
    await houseWithWithdrawals(200_000n, [1_000n, 2_000n, 3_000n, 150_000n], false);
    ledger.chain.fund(ledger.backend, 100_000n);
    const service = startService(serviceConfig(false));
    await service.start();
    const status = await eventually(async () => {
      const now = await service.status();
      return now.coins[0]!.wallets[0]!.refusedWithdrawals.length === 1 ? now : undefined;
    }, 'the refusal');
    const wallet = status.coins[0]!.wallets[0]!;
    expect(wallet.queuedWithdrawals).toBe(0);
    const withdrawals = await ledger.app.coin('btc').read(async (book) => {
      const main = await book.wallet('main');
      const debits = (await main.accountHistory(await main.getAccount('house'))).filter((entry) => entry.kind === 'withdrawal');
      return Promise.all(debits.map((entry) => main.getTransaction(entry.transactionId)));
    });
    const refused = await ledger.app.coin('btc').read(async (book) => (await book.wallet('main')).refusedWithdrawals());
    expect(refused.map((w) => w.amount)).toEqual([150_000n]);
    expect(
      withdrawals
        .filter((w) => w.state === 'broadcasted')
        .map((w) => w.amount)
        .sort(),
    ).toEqual([1_000n, 2_000n, 3_000n]);
    expect(log.has('error', 'the node refused a withdrawal')).toBe(true);
  });

  it('a withdrawal held by a frozen account is shown as held, not as stuck: /ready stays ready', async () => {
    await houseWithWithdrawals(100_000n, [5_000n]);
    await ledger.app.coin('btc').transaction(async (book) => (await book.wallet('main')).freezeAccount('house'));
    const base = serviceConfig(false);
    const config: Config = { ...base, service: { ...base.service, stuckWithdrawalAgeMs: 1 } };
    const service = startService(config);
    await service.start();
    // Several broadcast rounds pass: the held withdrawal stays queued and is never called stuck.
    const status = await eventually(async () => {
      const now = await service.status();
      const broadcastRuns = now.tasks.find((task) => task.name === 'btc:broadcast')?.runs ?? 0;
      return broadcastRuns >= 3 && now.coins[0]!.startupRescanDone ? now : undefined;
    }, 'three broadcast rounds');
    const wallet = status.coins[0]!.wallets[0]!;
    expect(wallet).toMatchObject({ queuedWithdrawals: 1, heldWithdrawals: 1, oldestQueuedAgeSeconds: null });
    expect(wallet.pending.map((w) => w.held)).toEqual([true]);
    expect(status.readiness).toEqual({ ready: true, reasons: [] });
    expect(await service.metrics.registry.getSingleMetricAsString('cryptoassets_withdrawals_held')).toContain(
      'coin="btc",wallet="main"} 1',
    );
    // Unfrozen, it is sent in the next rounds.
    await ledger.app.coin('btc').transaction(async (book) => (await book.wallet('main')).unfreezeAccount('house'));
    await firstClosedBroadcast();
  });

  it('audits the books against the node every audit period and fails loudly on a shortfall', async () => {
    await houseWithWithdrawals(50_000n, []);
    const config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      status_server: { enabled: false },
      service: { broadcast_period: 1, poll_period: 0.25, audit_period: 0.1, log_level: 'silent' },
    });
    const service = startService(config);
    await service.start();
    await eventually(async () => (await service.status()).coins[0]!.audit?.ok === true, 'a passing audit');
    // Money leaves the node wallet outside the ledger (a send by hand, a theft, a double payment).
    await ledger.backend.sendMany([{ address: ledger.chain.externalAddress(), amount: 10_000n }], { comment: 'by hand' });
    const audit = await eventually(async () => {
      const now = (await service.status()).coins[0]!.audit;
      return now && !now.ok ? now : undefined;
    }, 'a failing audit');
    expect(audit.shortfall).toBe(String(10_000n + ledger.chain.feeFor(1)));
    expect(audit.problems.join(' ')).toMatch(/holds \d+ base units less than the ledger expects/);
    expect(log.has('error', 'the balance audit against the node failed')).toBe(true);
    const metrics = await service.metrics.registry.metrics();
    expect(metrics).toMatch(/cryptoassets_balance_audit_ok\{coin="btc"\} 0/);
  });

  it('serves status as JSON, escaped HTML, metrics and health', async () => {
    const btc = ledger.app.coin('btc');
    await btc.transaction((book) => book.getOrCreateWallet('<script>alert(1)</script>'));
    const service = startService(serviceConfig(false));
    await service.start();
    const server = new StatusServer(service, '127.0.0.1', 0, log);
    await server.start();
    try {
      const base = `http://127.0.0.1:${server.address.port}`;
      await eventually(async () => (await service.status()).state === 'running', 'running');
      const json = (await (await fetch(`${base}/status.json`)).json()) as { state: string; coins: { coin: string; wallets: unknown[] }[] };
      expect(json.state).toBe('running');
      expect(json.coins[0]!.coin).toBe('btc');
      const html = await (await fetch(`${base}/`)).text();
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html).not.toContain('<script>');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('# TYPE cryptoassets_database_conflict_retries_total counter');
      expect(metrics).toContain('process_cpu_seconds_total');
      expect(metrics).toContain('cryptoassets_pending_withdrawals{coin="btc",wallet="<script>alert(1)</script>"} 0');
      const ready = await fetch(`${base}/ready`);
      const readiness = (await ready.json()) as { ready: boolean; reasons: string[] };
      expect({ status: ready.status, ready: readiness.ready }).toEqual({
        status: readiness.reasons.length === 0 ? 200 : 503,
        ready: readiness.reasons.length === 0,
      });
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/status.json`, { method: 'POST' })).status).toBe(405);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
