/**
 * Issue 8: the failures an operator found in the helper service and the ledger, one test each,
 * named after the failure. Each of them failed on the code before the chain cursor, the reading
 * register and the fenced lease (commit c98d128). Balances past 64 bits (failure 7) are covered
 * by amount-range.test.ts.
 *
 * The memory chain serves where it can show the failure; the rest run against a real Litecoin
 * Core regtest node with the helper service running (in this process, or as a child process
 * where it must be paused with SIGSTOP).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { ANSWER_TOO_LARGE, type CoinBackend } from '../../src/backends/backend.js';
import { type MemoryBackend, MemoryChain } from '../../src/backends/memory/index.js';
import { BTC } from '../../src/domain/coins.js';
import { BackendError, InvalidState, ScanIncomplete, StaleReading } from '../../src/domain/errors.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { HelperService } from '../../src/service/helper-service.js';
import { acquireLease, readLease } from '../../src/service/lease.js';
import { broadcastSettledCheck, SERVICE_LEASE } from '../../src/service/timings.js';
import { resolveBroadcast } from '../../src/service/broadcast-reconciler.js';
import type { Database, SqlExecutor, SqlValue } from '../../src/store/database.js';
import { openDatabase } from '../../src/store/open.js';
import { RpcProxy, startServiceProcess, type ServiceProcess } from '../helpers/child-service.js';
import { createTestDatabase, INTEGRATION_REQUIRED, isPostgresReachable } from '../helpers/engines.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { describeWithNode, freePort, RegtestNode, waitUntil } from '../helpers/regtest.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { StatusServer } from '../../src/service/status-server.js';

const network = BTC.networks.regtest!;
const quiet: LedgerLog = { info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-issue8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = (name: string) => join(dir, `${++files}-${name}`);

/**
 * A database whose executor refuses, while armed, every insert of a network transaction with the
 * armed txid: a disk or constraint failure that hits exactly one transaction of a scan.
 */
class FailingDatabase implements Database {
  armed: string | undefined;
  refused = 0;
  constructor(private readonly inner: Database) {}
  get engine() {
    return this.inner.engine;
  }
  transaction<T>(mode: Parameters<Database['transaction']>[0], fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.inner.transaction(mode, (tx) => fn(this.wrap(tx)));
  }
  isConflict(error: unknown): boolean {
    return this.inner.isConflict(error);
  }
  version(): Promise<string> {
    return this.inner.version();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  private wrap(tx: SqlExecutor): SqlExecutor {
    const check = (sql: string, params: readonly SqlValue[] = []) => {
      if (this.armed !== undefined && /^\s*INSERT INTO btc_network_transaction\b/.test(sql) && params.includes(this.armed)) {
        this.refused++;
        throw new Error('injected failure: disk I/O error while recording the deposit');
      }
    };
    return {
      all: (sql, params) => (check(sql, params), tx.all(sql, params)),
      get: (sql, params) => (check(sql, params), tx.get(sql, params)),
      run: (sql, params) => (check(sql, params), tx.run(sql, params)),
    };
  }
}

describe('issue 8 on the memory chain', () => {
  it('2. importBalance books nothing when the scan before it could not record a deposit; the deposit is counted once', async () => {
    const chain = new MemoryChain({ network });
    const backend = chain.createWallet('ledger');
    const database = new FailingDatabase(openDatabase({ kind: 'sqlite', path: freshFile('import.sqlite') }));
    const app = await CryptoAssets.open({ database, coins: [{ coin: BTC, network, backend }], migrate: true });
    try {
      const btc = app.coin('btc');
      const { alice, house } = await btc.transaction(async (book) => {
        const main = await book.getOrCreateWallet('main');
        return { alice: await main.createAccount('alice'), house: await main.createAccount('house') };
      });
      // Coins the wallet held before the ledger existed, and a deposit to alice, both confirmed.
      chain.fund(backend, 5_000_000n);
      const address = await btc.createReceivingAddress('main', alice);
      const txid = chain.pay(address.address, 1_000_000n);
      chain.mine(BTC.confirmationThreshold);
      expect(await backend.getBalance(BTC.confirmationThreshold)).toBe(6_000_000n);

      database.armed = txid;
      const error = await btc.importBalance('main', house).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ScanIncomplete);
      expect((error as ScanIncomplete).txids).toEqual([txid]);
      expect(database.refused).toBeGreaterThan(0);
      const afterFailure = await btc.read(async (book) => {
        const main = await book.wallet('main');
        return { accounts: await main.listAccounts(), deposits: await main.deposits() };
      });
      expect(afterFailure.accounts.map((account) => [account.name, account.balance])).toEqual(
        expect.arrayContaining([
          ['alice', 0n],
          ['house', 0n],
        ]),
      );
      expect(afterFailure.deposits).toEqual([]);
      expect((await app.verifyLedger()).coins[0]!.wallets[0]!.imports).toBe(0n);

      // The failure passes; a scan credits the deposit once, and the import books only the rest.
      database.armed = undefined;
      await btc.scanReceived();
      const imported = await btc.importBalance('main', house);
      expect(imported.imported).toBe(5_000_000n);
      await btc.scanReceived();
      const balances = await btc.read(async (book) => {
        const main = await book.wallet('main');
        return {
          alice: (await main.getAccount(alice)).balance,
          house: (await main.getAccount(house)).balance,
          deposits: await main.deposits(),
        };
      });
      expect(balances.alice).toBe(1_000_000n);
      expect(balances.house).toBe(5_000_000n);
      expect(balances.deposits.map((d) => [d.txid, d.state])).toEqual([[txid, 'credited']]);
      const check = await app.verifyLedger();
      expect(check.problems).toEqual([]);
      // Money counted once: what the ledger says the wallet holds is what the wallet holds.
      expect(check.coins[0]!.wallets[0]!.walletBalance).toBe(await backend.getBalance(BTC.confirmationThreshold));
    } finally {
      await app.close();
    }
  });

  it('3. a stale node reading (taken before a reorg, applied after a newer one) does not re-credit a reversed deposit', async () => {
    const chain = new MemoryChain({ network });
    const path = freshFile('readings.sqlite');
    const first = await CryptoAssets.open({
      database: { kind: 'sqlite', path },
      coins: [{ coin: BTC, network, backend: chain.createWallet('ledger') }],
      migrate: true,
    });
    // A second process on the same database and node wallet (e.g. an application's scan).
    const secondBackend = chain.openWallet('ledger');
    const second = await CryptoAssets.open({ database: { kind: 'sqlite', path }, coins: [{ coin: BTC, network, backend: secondBackend }] });
    try {
      const a = first.coin('btc');
      const b = second.coin('btc');
      const alice = await a.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
      const address = await a.createReceivingAddress('main', alice);
      const txid = chain.pay(address.address, 700_000n);
      chain.mine(BTC.confirmationThreshold);
      await a.syncWithChain();
      const balance = () => a.read(async (book) => (await (await book.wallet('main')).getAccount(alice)).balance);
      expect(await balance()).toBe(700_000n);

      // The second process takes its ticket and reads the node: 3 confirmations.
      const ticket = (await b.read((book) => book.readingRegister())).seq;
      const stale = await secondBackend.readTransactions([txid]);
      expect(stale.transactions[0]!.confirmations).toBe(BTC.confirmationThreshold);

      // A reorganisation takes the deposit's block away; the first process applies it first.
      chain.reorg(BTC.confirmationThreshold);
      chain.mineEmpty(BTC.confirmationThreshold + 1);
      await a.syncWithChain();
      expect(await balance()).toBe(0n);

      await expect(b.transaction((book) => book.applyReading(stale, ticket))).rejects.toBeInstanceOf(StaleReading);
      expect(await balance()).toBe(0n);
      const history = await a.read(async (book) => (await book.wallet('main')).accountHistory(alice));
      expect([...history].sort((x, y) => x.id - y.id).map((entry) => entry.kind)).toEqual(['deposit_credit', 'deposit_reversal']);
      const [deposit] = await a.read(async (book) => (await book.wallet('main')).deposits());
      expect(deposit!.state).toBe('incoming');
      await expectLedgerConsistent(first);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('6. a history whose pages are themselves over the answer cap is read in smaller pages (memory chain)', async () => {
    // The node's answer grows with the page: a page of more than 4 transactions is over the cap,
    // like a listtransactions window or gettransaction batch over max_answer_bytes.
    const chain = new MemoryChain({ network, answerCap: 2 });
    const memory = chain.createWallet('ledger');
    const asked: number[] = [];
    const backend: CoinBackend = Object.assign(Object.create(memory) as MemoryBackend, {
      async listReceived(next: string | null, pageSize: number) {
        asked.push(pageSize);
        if (pageSize > 4) throw new BackendError(`a page of ${pageSize} is over the cap`, { retryable: false, code: ANSWER_TOO_LARGE });
        return memory.listReceived(next, pageSize);
      },
    });
    const app = await CryptoAssets.open({
      database: { kind: 'sqlite', path: freshFile('pages.sqlite') },
      coins: [{ coin: BTC, network, backend }],
      migrate: true,
    });
    try {
      const btc = app.coin('btc');
      const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
      for (let i = 0; i < 20; i++) chain.pay((await btc.createReceivingAddress('main', alice)).address, 1_000n + BigInt(i));
      chain.mine(BTC.confirmationThreshold);
      const result = await btc.syncWithChain();
      expect(result.inParts).toBe(true);
      expect(result.cursor).toEqual(chain.tip);
      expect(asked.slice(0, 8)).toEqual([500, 250, 125, 62, 31, 15, 7, 3]);
      expect(new Set(asked.slice(7))).toEqual(new Set([3]));
      const deposits = await btc.read(async (book) => (await book.wallet('main')).deposits());
      expect(deposits).toHaveLength(20);
      expect(deposits.every((d) => d.state === 'credited')).toBe(true);
      await expectLedgerConsistent(app);
    } finally {
      await app.close();
    }
  });

  describe('4. lease', () => {
    it('a service whose machine clock runs 4 s ahead cannot take a live lease (PostgreSQL: the lease uses the server clock)', async (context) => {
      if (!INTEGRATION_REQUIRED && !(await isPostgresReachable())) context.skip();
      const database = await createTestDatabase('postgres');
      const chain = new MemoryChain({ network });
      const config = parseConfig({
        database: { url: database.location },
        coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      });
      const open = (wallet: string) =>
        CryptoAssets.open({
          database: database.options,
          coins: [{ coin: BTC, network, backend: chain.createWallet(wallet) }],
          migrate: true,
        });
      const appA = await open('a');
      const appB = await open('b');
      const a = new HelperService(appA, config, quiet, { leaseTtlMs: 3_000, manual: true });
      const b = new HelperService(appB, config, quiet, { leaseTtlMs: 3_000, manual: true });
      try {
        await a.start();
        await b.start();
        await a.keepLease();
        expect(a.leaseGeneration).toBe(1);
        // B's machine clock is 4 s ahead: by that clock A's lease (3 s) has already run out.
        const realNow = Date.now.bind(Date);
        const ahead = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 4_000);
        try {
          await b.keepLease();
          await b.keepLease();
        } finally {
          ahead.mockRestore();
        }
        expect(b.currentState).toBe('standby');
        expect(b.leaseGeneration).toBeNull();
        await a.keepLease();
        expect(a.currentState).toBe('running');
        expect(a.leaseGeneration).toBe(1);
        expect((await readLease(appA.database, SERVICE_LEASE))!.holder).toBe(a.instance);
      } finally {
        await b.stop();
        await a.stop();
        await appB.close();
        await appA.close();
        await database.drop();
      }
    });

    it('two processes with the same hostname do not take the lease from each other (the holder runs on another machine of that name)', async () => {
      // The holder: a service in this process that identifies as one on another machine with the
      // same host name (same pid namespace id, as every machine's initial namespace has, but
      // another boot id), whose pid does not exist here.
      const gone = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString();
      const namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;
      const ourBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '');
      const otherBoot = ourBoot.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      const path = freshFile('hostname.sqlite');
      const chain = new MemoryChain({ network });
      const config = parseConfig({
        database: { url: `sqlite:${path}` },
        coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      });
      const app = await CryptoAssets.open({
        database: { kind: 'sqlite', path },
        coins: [{ coin: BTC, network, backend: chain.createWallet('x') }],
        migrate: true,
      });
      const holder = new HelperService(app, config, quiet, { leaseTtlMs: 3_000 });
      (holder as { instance: string }).instance = `${hostname()}:${gone}:a1b2c3:${namespace}:${otherBoot}`;
      const port = await freePort();
      const yaml = freshFile('hostname.yaml');
      writeFileSync(
        yaml,
        `database: {url: "sqlite:${path}"}
coins: {btc: {network: regtest, backend: {type: memory}}}
status_server: {enabled: true, port: ${port}}
service: {lease_ttl: 3, poll_period: 0.2, broadcast_period: 0.2, log_level: warn}
`,
      );
      let other: ServiceProcess | undefined;
      try {
        await holder.start();
        await waitUntil(async () => holder.currentState === 'running', 5_000, 'the holder to run');
        other = startServiceProcess(yaml);
        const health = async () =>
          fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.text(),
            () => 'down',
          );
        await waitUntil(async () => (await health()) !== 'down', 30_000, 'the second service to answer');
        // Several renewal rounds of both (every second).
        for (let i = 0; i < 8; i++) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          expect((await health()).trim(), other.output()).toBe('standby');
          expect(holder.currentState).toBe('running');
        }
        expect(holder.leaseGeneration).toBe(1);
        expect((await readLease(app.database, SERVICE_LEASE))!.holder).toBe(holder.instance);
      } finally {
        await other?.kill();
        await holder.stop();
        await app.close();
      }
    });

    it('resolveBroadcast(notSent) refuses while a send of the broadcast could still be in flight', async () => {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const chain = new MemoryChain({ network });
      const backend = chain.createWallet('ledger');
      const app = await CryptoAssets.open({
        database: { kind: 'sqlite', path: freshFile('resolve.sqlite'), clock: () => now },
        coins: [{ coin: BTC, network, backend }],
        migrate: true,
      });
      try {
        const btc = app.coin('btc');
        const ttl = 30_000;
        const timeout = 10_000;
        const settled = broadcastSettledCheck(app.database, ttl, timeout);
        const bob = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('bob'));
        chain.fund(backend, 1_000_000n);
        chain.mine(BTC.confirmationThreshold);
        expect((await btc.importBalance('main', bob)).imported).toBe(1_000_000n);
        // A service of lease generation 1 opens a broadcast, and is then lost from sight.
        const grant = await acquireLease(app.database, SERVICE_LEASE, 'service-1', ttl);
        expect('held' in grant && grant.held.generation).toBe(1);
        const opened = await btc.transaction(async (book) => {
          const main = await book.wallet('main');
          await main.withdraw(bob, chain.externalAddress(), 100_000n);
          const broadcast = await main.openBroadcast({ leaseGeneration: 1 });
          return main.markBroadcastForVetting(broadcast!.broadcast.id);
        });
        const id = opened.id;
        const state = async () =>
          btc.read(
            async (book) => (await (await book.wallet('main')).listBroadcasts(['vetting', 'returned'])).find((b) => b.id === id)!.state,
          );

        // t0 + 5 s: the send may be on its way for the lease's time and the request time limit.
        now += 5_000;
        await expect(resolveBroadcast(btc, 'main', id, { notSent: true }, settled)).rejects.toBeInstanceOf(InvalidState);
        expect(await state()).toBe('vetting');
        // t0 + 20 s: the first service is alive and renews (its lease now runs to t0 + 50 s); at
        // t0 + 55 s a second service takes over. A send the first one started just before its
        // lease ended may be in flight until t0 + 60 s, although t0 + ttl + timeout has passed.
        now += 15_000;
        await acquireLease(app.database, SERVICE_LEASE, 'service-1', ttl);
        now += 35_000;
        const takeover = await acquireLease(app.database, SERVICE_LEASE, 'service-2', ttl);
        expect('held' in takeover && takeover.held.generation).toBe(2);
        await expect(resolveBroadcast(btc, 'main', id, { notSent: true }, settled)).rejects.toBeInstanceOf(InvalidState);
        expect(await state()).toBe('vetting');
        now += 6_000;
        const resolved = await resolveBroadcast(btc, 'main', id, { notSent: true }, settled);
        expect(resolved.state).toBe('returned');
        const pending = await btc.read(async (book) => (await book.wallet('main')).pendingWithdrawals());
        expect(pending.map((w) => w.amount)).toEqual([100_000n]);
        await expectLedgerConsistent(app);
      } finally {
        await app.close();
      }
    });
  });
});

/** What a log call recorded. */
interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function recordingLog(lines: LogLine[]): LedgerLog {
  return {
    info: (fields, message) => lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
    error: (fields, message) => lines.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
  };
}

describeWithNode()('issue 8 on Litecoin Core (regtest) with the helper service', () => {
  let node: RegtestNode;

  beforeAll(async () => {
    node = await RegtestNode.start();
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
  }, 60_000);

  interface Running {
    readonly app: CryptoAssets;
    readonly service: HelperService;
    readonly logs: LogLine[];
    readonly status?: StatusServer;
    stop(): Promise<void>;
  }

  /** The helper service in this process on a fresh SQLite ledger and node wallet `wallet`. */
  async function runService(
    wallet: string,
    options: {
      database?: string;
      service?: Record<string, unknown>;
      backend?: Record<string, unknown>;
      statusServer?: boolean;
      before?: (app: CryptoAssets) => Promise<void>;
    } = {},
  ): Promise<Running> {
    const config = parseConfig({
      database: { url: `sqlite:${options.database ?? freshFile(`${wallet}.sqlite`)}` },
      coins: {
        ltc: {
          network: 'regtest',
          backend: {
            type: 'bitcoind',
            url: node.url,
            username: node.username,
            password: node.password,
            wallet,
            timeout_ms: 1_500,
            ...options.backend,
          },
        },
      },
      status_server: { enabled: false },
      service: { broadcast_period: 0.2, poll_period: 0.2, log_level: 'silent', ...options.service },
    });
    const app = await openFromConfig(config, { migrate: true });
    await options.before?.(app);
    const logs: LogLine[] = [];
    const service = new HelperService(app, config, recordingLog(logs), { leaseTtlMs: 3_000 });
    const status = options.statusServer ? new StatusServer(service, '127.0.0.1', 0, quiet) : undefined;
    await status?.start();
    await service.start();
    return {
      app,
      service,
      logs,
      ...(status ? { status } : {}),
      async stop() {
        await service.stop();
        await status?.stop();
        await app.close();
      },
    };
  }

  async function account(app: CryptoAssets, name: string) {
    return app.coin('ltc').transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount(name));
  }

  async function balanceOf(app: CryptoAssets, name: string): Promise<bigint> {
    return app.coin('ltc').read(async (book) => (await (await book.wallet('main')).getAccount(name)).balance);
  }

  /** The node wallet's balance once everything is confirmed (trusted; nothing pending or immature). */
  async function nodeBalance(wallet: string): Promise<bigint> {
    const balances = (await node.walletRpc(wallet, 'getbalances')) as {
      mine: { trusted: JsonNumber; untrusted_pending: JsonNumber; immature: JsonNumber };
    };
    expect(balances.mine.untrusted_pending.text).toBe('0.00000000');
    expect(balances.mine.immature.text).toBe('0.00000000');
    return parseAmount(balances.mine.trusted.text, LTC, { allowZero: true });
  }

  /** Σ walletBalance over the ledger's wallets of the coin: what the node's wallet should hold. */
  async function ledgerWalletBalance(app: CryptoAssets): Promise<bigint> {
    const check = await app.verifyLedger();
    expect(check.problems).toEqual([]);
    return check.coins[0]!.wallets.reduce((sum, wallet) => sum + wallet.walletBalance, 0n);
  }

  it('1. a deposit to our address with no wallet notification configured is credited within two poll periods', async () => {
    const POLL_MS = 300;
    const wallet = await node.createWallet('no-notify');
    const running = await runService(wallet, { service: { poll_period: POLL_MS / 1000 } });
    try {
      await waitUntil(async () => (await running.service.status()).coins[0]!.startupRescanDone, 30_000, 'the first sync');
      const alice = await account(running.app, 'alice');
      const address = await running.app.coin('ltc').createReceivingAddress('main', alice);
      const deposits = () => running.app.coin('ltc').read(async (book) => (await book.wallet('main')).deposits({ account: alice }));

      // "Within two poll periods" counted in sync rounds, not milliseconds, so that a slow machine
      // cannot fail it: the round in flight when the chain changed may miss the change; the next
      // one must find it.
      const syncRuns = async () => (await running.service.status()).tasks.find((task) => task.name === 'ltc:sync')!.runs;
      const txid = await node.fund(address.address, '0.5');
      const paidAt = performance.now();
      const runsAtPayment = await syncRuns();
      await waitUntil(async () => (await deposits()).some((d) => d.txid === txid), 30_000, 'the deposit to be seen');
      const seenAfter = performance.now() - paidAt;
      const roundsToSee = (await syncRuns()) - runsAtPayment;

      await node.mine(LTC.confirmationThreshold);
      const minedAt = performance.now();
      const runsAtMining = await syncRuns();
      await waitUntil(async () => (await balanceOf(running.app, 'alice')) === 50_000_000n, 30_000, 'the credit');
      const creditedAfter = performance.now() - minedAt;
      const roundsToCredit = (await syncRuns()) - runsAtMining;
      console.info(
        `issue 8.1: seen ${seenAfter.toFixed(0)} ms (${roundsToSee} sync rounds) after payment, credited ${creditedAfter.toFixed(0)} ms ` +
          `(${roundsToCredit} rounds) after the third block (poll ${POLL_MS} ms)`,
      );
      expect(roundsToSee).toBeLessThanOrEqual(2);
      expect(roundsToCredit).toBeLessThanOrEqual(2);
      expect((await deposits()).map((d) => [d.txid, d.state, d.amount])).toEqual([[txid, 'credited', 50_000_000n]]);
      expect((await running.service.status()).coins[0]!.listener).toBeNull();
      await expectLedgerConsistent(running.app);
    } finally {
      await running.stop();
    }
  });

  it('4. a holder paused past its lease (SIGSTOP) cannot write or send after resuming: nothing is paid twice, the audit matches the node', async () => {
    const TTL_MS = 6_000;
    const TIMEOUT_MS = 1_000;
    const wallet = await node.createWallet('pause');
    const database = freshFile('pause.sqlite');
    const proxy = new RpcProxy(node.url);
    const proxyUrl = await proxy.start();
    const yaml = (url: string) => {
      const path = freshFile('pause.yaml');
      writeFileSync(
        path,
        `database: {url: "sqlite:${database}"}
coins:
  ltc:
    network: regtest
    backend: {type: bitcoind, url: "${url}", username: "${node.username}", password: "\${LTC_PASSWORD}", wallet: "${wallet}", timeout_ms: ${TIMEOUT_MS}}
status_server: {enabled: false}
service: {lease_ttl: ${TTL_MS / 1000}, broadcast_period: 0.2, poll_period: 0.3, log_level: info}
`,
      );
      return path;
    };
    const env = { LTC_PASSWORD: node.password };
    const app = await openFromConfig(await loadConfigFile(yaml(node.url), { ...process.env, ...env }), { migrate: true });
    const ltc = app.coin('ltc');
    const settled = broadcastSettledCheck(app.database, TTL_MS, TIMEOUT_MS);
    const processes: ServiceProcess[] = [];
    const expected = new Map<string, bigint>();
    try {
      await node.fund((await node.walletRpc(wallet, 'getnewaddress')) as string, '5');
      await node.mine(LTC.confirmationThreshold);
      const house = await account(app, 'house');
      expect((await ltc.importBalance('main', house)).imported).toBe(500_000_000n);
      const queue = async (count: number): Promise<number[]> => {
        const destinations = await Promise.all(Array.from({ length: count }, () => node.minerNewAddress()));
        return ltc.transaction(async (book) => {
          const main = await book.wallet('main');
          const ids = [];
          for (const destination of destinations) {
            const amount = 1_000_000n + BigInt(expected.size) * 10_000n;
            expected.set(destination, amount);
            ids.push((await main.withdraw(house, destination, amount)).id);
          }
          return ids;
        });
      };
      const statesOf = (ids: readonly number[]) =>
        ltc.read(async (book) => {
          const main = await book.wallet('main');
          const states = [];
          for (const id of ids) states.push((await main.getTransaction(id)).state);
          return states;
        });
      const holder = async () => (await readLease(app.database, SERVICE_LEASE))?.holder ?? '';
      /** Settle as an operator would: resolve broadcasts under vetting once nothing can be in flight. */
      const settle = async (ids: readonly number[], what: string) =>
        waitUntil(
          async () => {
            const vetting = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['vetting']));
            for (const broadcast of vetting) {
              await resolveBroadcast(ltc, 'main', broadcast.id, { notSent: true }, settled).catch((error: unknown) => {
                if (!(error instanceof InvalidState)) throw error;
              });
            }
            const open = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened', 'vetting']));
            return open.length === 0 && (await statesOf(ids)).every((state) => state === 'broadcasted');
          },
          60_000,
          what,
        );
      /** SIGSTOP a service at a moment it holds no SQLite write lock (else let it run a little). */
      const pause = async (service: ServiceProcess) => {
        for (;;) {
          process.kill(service.pid, 'SIGSTOP');
          await new Promise((resolve) => setTimeout(resolve, 20));
          const free = await app.database.transaction('write', async () => true).catch(() => false);
          if (free) return;
          process.kill(service.pid, 'SIGCONT');
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
      };

      // P1 runs (through the proxy), takes the lease and pays a first batch.
      const p1 = startServiceProcess(yaml(proxyUrl), env);
      processes.push(p1);
      await waitUntil(async () => (await holder()).includes(`:${p1.pid}:`), 30_000, 'P1 to hold the lease');
      await settle(await queue(2), 'P1 to pay the first batch');

      // P1 opens the next broadcast and is paused just before the send (its getwalletinfo held).
      const trap = proxy.holdNext('getwalletinfo');
      const second = await queue(2);
      await Promise.race([trap.held, new Promise((_, reject) => setTimeout(() => reject(new Error('P1 never started the send')), 20_000))]);
      await pause(p1);
      trap.release();
      const [opened] = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened']));
      expect(opened?.leaseGeneration).toBe(1);

      // P2 takes the lease over once P1's has run out (P1's process still exists), leaves P1's
      // broadcast alone until no send of it can be in flight, then it is vetted and returned, and
      // P2 pays those withdrawals.
      const p2 = startServiceProcess(yaml(node.url), env);
      processes.push(p2);
      await waitUntil(async () => (await holder()).includes(`:${p2.pid}:`), 30_000, 'P2 to take the lease over');
      await settle(second, 'P2 to pay the second batch');
      const returned = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['returned']));
      expect(returned.map((b) => b.id)).toContain(opened!.id);

      // P2 pauses in turn with its lease live; withdrawals wait in the queue; P1 resumes. Until
      // P2's lease runs out nobody may write or send: P1 must notice it lost the lease.
      await pause(p2);
      const third = await queue(2);
      const lease = (await readLease(app.database, SERVICE_LEASE))!;
      const window = lease.expiresAt.getTime() - lease.nowMs - 500;
      expect(window).toBeGreaterThan(2_000);
      const before = await snapshot(app);
      const sendsBefore = proxy.count('sendmany');
      const mark = p1.output().length;
      process.kill(p1.pid, 'SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, window));
      const after = await snapshot(app);
      expect(Object.keys(after).filter((table) => after[table] !== before[table])).toEqual([]);
      expect(proxy.count('sendmany')).toBe(sendsBefore);
      expect(p1.child.exitCode).toBeNull();
      expect(p1.outputSince(mark)).toMatch(/lost the service lease|no longer held/);

      process.kill(p2.pid, 'SIGCONT');
      await settle(third, 'the third batch');
      await node.mine(1);

      // Every withdrawal paid exactly once; P1's broadcast never went out.
      for (const [destination, amount] of expected) {
        const received = (await node.walletRpc(node.minerWallet, 'getreceivedbyaddress', destination, 0)) as JsonNumber;
        expect(parseAmount(received.text, LTC, { allowZero: true }), destination).toBe(amount);
      }
      const listed = (await node.walletRpc(wallet, 'listtransactions', '*', 1000, 0)) as {
        category: string;
        txid: string;
        comment?: string;
      }[];
      const sends = new Map<string, string | undefined>();
      for (const entry of listed) if (entry.category === 'send') sends.set(entry.txid, entry.comment);
      const closed = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      expect([...sends.keys()].sort()).toEqual(closed.map((b) => b.txid).sort());
      expect([...sends.values()]).not.toContain(opened!.comment);
      expect(await nodeBalance(wallet)).toBe(await ledgerWalletBalance(app));
    } finally {
      for (const service of processes) {
        if (service.child.exitCode === null && service.child.signalCode === null) process.kill(service.pid, 'SIGCONT');
        await service.kill();
      }
      await proxy.stop();
      await app.close();
    }
  });

  it('5. one withdrawal the node refuses does not block the others: they go out in the same round, it becomes refused with one event, the status shows it', async () => {
    const wallet = await node.createWallet('refuse');
    // The hot wallet holds 2 LTC, booked onto the house account.
    await node.fund((await node.walletRpc(wallet, 'getnewaddress')) as string, '2');
    await node.mine(LTC.confirmationThreshold);
    const running = await runService(wallet, {
      statusServer: true,
      before: async (app) => {
        const house = await account(app, 'house');
        expect((await app.coin('ltc').importBalance('main', house)).imported).toBe(200_000_000n);
      },
    });
    try {
      await waitUntil(async () => (await running.service.status()).coins[0]!.startupRescanDone, 30_000, 'the first sync');
      const ltc = running.app.coin('ltc');
      // An operator moves 1.5 LTC to cold storage outside the ledger: the node now holds less
      // than the house account says.
      const cold = (await node.walletRpc(wallet, 'sendtoaddress', await node.minerNewAddress(), new JsonNumber('1.5'))) as string;
      const coldFee = -parseAmount(((await node.walletRpc(wallet, 'gettransaction', cold)) as { fee: JsonNumber }).fee.text, LTC, {
        allowNegative: true,
      });
      await node.mine(1);

      const destinations = await Promise.all(Array.from({ length: 6 }, () => node.minerNewAddress()));
      const amounts = [1_000_000n, 2_000_000n, 3_000_000n, 100_000_000n, 4_000_000n, 5_000_000n];
      const queued = await ltc.transaction(async (book) => {
        const main = await book.wallet('main');
        const house = await main.getAccount('house');
        const result = [];
        for (const [i, destination] of destinations.entries()) result.push(await main.withdraw(house, destination, amounts[i]!));
        return result;
      });
      const big = queued[3]!;
      const small = queued.filter((w) => w.id !== big.id);

      const states = () =>
        ltc.read(async (book) => {
          const main = await book.wallet('main');
          const result = [];
          for (const q of queued) result.push((await main.getTransaction(q.id)).state);
          return result;
        });
      await waitUntil(async () => (await states()).every((state) => state !== 'pending' && state !== 'broadcasting'), 30_000, 'the round');
      expect(await states()).toEqual(queued.map((q) => (q.id === big.id ? 'refused' : 'broadcasted')));
      // One round: one broadcastPending call that split the batch (no other outcome counted).
      const outcomes = (await running.service.metrics.broadcasts.get()).values.map((v) => [v.labels.outcome, v.value]);
      expect(outcomes).toEqual([['isolated', 1]]);

      const refusedEvents = await running.app.database.transaction('read', (tx) =>
        tx.all<{ payload: string }>(`SELECT payload FROM cryptoassets_event WHERE transaction_type = 'withdrawal' AND transaction_id = ?`, [
          big.id,
        ]),
      );
      const changes = refusedEvents.map((row) => (JSON.parse(row.payload) as { change: string }).change);
      expect(changes.filter((change) => change === 'refused')).toHaveLength(1);

      const url = `http://127.0.0.1:${running.status!.address.port}/status.json`;
      const json = (await (await fetch(url)).json()) as {
        coins: { wallets: { wallet: string; refusedWithdrawals: number[]; queuedWithdrawals: number }[] }[];
      };
      const main = json.coins[0]!.wallets.find((w) => w.wallet === 'main')!;
      expect(main.refusedWithdrawals).toEqual([big.id]);
      expect(main.queuedWithdrawals).toBe(0);

      // Paid on chain: each small withdrawal once, the big one not at all.
      for (const [i, destination] of destinations.entries()) {
        const received = (await node.walletRpc(node.minerWallet, 'getreceivedbyaddress', destination, 0)) as JsonNumber;
        expect(parseAmount(received.text, LTC, { allowZero: true }), destination).toBe(i === 3 ? 0n : amounts[i]);
      }
      const refused = await ltc.read(async (book) => (await book.wallet('main')).getTransaction(big.id));
      expect(refused.refusal).toMatch(/insufficient/i);
      // The audit: the node holds what the ledger says, less what left outside it.
      await node.mine(1);
      expect(await nodeBalance(wallet)).toBe((await ledgerWalletBalance(running.app)) - 150_000_000n - coldFee);
      expect(small).toHaveLength(5);
    } finally {
      await running.stop();
    }
  });

  it('6. a node answer over the cap does not crash the service: its first sync completes in parts and credits every deposit', async () => {
    const RECEIVES = 100;
    const wallet = await node.createWallet('cap');
    const database = freshFile('cap.sqlite');
    const config = parseConfig({
      database: { url: `sqlite:${database}` },
      coins: {
        ltc: { network: 'regtest', backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet } },
      },
    });
    // The deposits arrive while no service runs: 100 payments of 0.001 LTC to 100 addresses.
    const setup = await openFromConfig(config, { migrate: true });
    const addresses: string[] = [];
    try {
      const alice = await account(setup, 'alice');
      for (let i = 0; i < RECEIVES; i++) addresses.push((await setup.coin('ltc').createReceivingAddress('main', alice)).address);
    } finally {
      await setup.close();
    }
    for (const [i, address] of addresses.entries()) {
      await node.walletRpc(node.minerWallet, 'sendtoaddress', address, new JsonNumber('0.001'));
      if (i % 20 === 19) await node.mine(1); // keeps the miner's chains of unconfirmed change short
    }
    await node.mine(LTC.confirmationThreshold);
    const listing = JSON.stringify(await node.walletRpc(wallet, 'listsinceblock'));
    expect(listing.length).toBeGreaterThan(2 * 20_480); // the whole history cannot be read at once

    const running = await runService(wallet, { database, backend: { max_answer_bytes: 20_480 } });
    try {
      await waitUntil(async () => (await running.service.status()).coins[0]!.startupRescanDone, 60_000, 'the first sync').catch(
        (error: unknown) => {
          throw new Error(`${String(error)}; logs: ${JSON.stringify(running.logs.slice(-5))}`);
        },
      );
      const first = running.logs.find((line) => line.message === 'first sync with the chain done');
      expect(first?.fields).toMatchObject({ inParts: true });
      expect(await balanceOf(running.app, 'alice')).toBe(BigInt(RECEIVES) * 100_000n);
      const deposits = await running.app.coin('ltc').read(async (book) => (await book.wallet('main')).deposits());
      expect(deposits).toHaveLength(RECEIVES);
      expect(deposits.every((d) => d.state === 'credited')).toBe(true);
      expect(running.service.currentState).toBe('running');
      expect(await nodeBalance(wallet)).toBe(await ledgerWalletBalance(running.app));
    } finally {
      await running.stop();
    }
  });
});

/** Every row of every table of a SQLite ledger (as JSON per table), to prove nothing was written meanwhile. */
async function snapshot(app: CryptoAssets): Promise<Record<string, string>> {
  return app.database.transaction('read', async (tx) => {
    const tables = await tx.all<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`);
    const all: Record<string, string> = {};
    for (const { name } of tables) {
      const rows = await tx.all(`SELECT * FROM "${name}" ORDER BY rowid`);
      all[name] = JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    }
    return all;
  });
}
