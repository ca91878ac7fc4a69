/**
 * The simulated world of one run: one chain, one SQLite file on virtual clocks, the application
 * (users and the operator, on a connection of its own), the auditor's connection, and two slots
 * for helper-service processes. Everything a step needs is reached from here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptoAssets } from '../src/app.js';
import { type MemoryCall, MemoryChain } from '../src/backends/memory/index.js';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { BTC } from '../src/domain/coins.js';
import type { LedgerLog } from '../src/ledger/coin-ledger.js';
import type { Account } from '../src/ledger/records.js';
import { Auditor } from './auditor.js';
import { ChainModel } from './chain-model.js';
import { VirtualClocks } from './clocks.js';
import { Prng } from './prng.js';
import { type ActionOutcome, type Actor, CallInterceptor } from './interceptor.js';
import { SimProcess } from './sim-process.js';
import { RunStats } from './stats.js';

/** The node wallet's name on the chain. */
export const NODE_WALLET = 'ledger';
/** The ledger wallet the users' accounts are in. */
export const LEDGER_WALLET = 'main';
/** The service lease's length (virtual ms). */
export const LEASE_TTL_MS = 30_000;
/** The database clock at the start of every run: 2025-06-15, an arbitrary fixed moment. */
const DATABASE_EPOCH_MS = 1_750_000_000_000;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
export const HOUSE = 'house';

/** A log that keeps the last lines, printed with a failure. */
export class RingLog implements LedgerLog {
  private readonly lines: string[] = [];
  constructor(private readonly prefix: () => string) {}
  info(fields: object, message: string): void {
    this.push('info', fields, message);
  }
  warn(fields: object, message: string): void {
    this.push('warn', fields, message);
  }
  error(fields: object, message: string): void {
    this.push('error', fields, message);
  }
  tail(count: number): string[] {
    return this.lines.slice(-count);
  }
  private push(level: string, fields: object, message: string): void {
    this.lines.push(
      `${this.prefix()} ${level} ${message} ${JSON.stringify(fields, (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))}`,
    );
    if (this.lines.length > 200) this.lines.splice(0, 100);
  }
}

/**
 * The application (users, the operator, `scan-received`, `import-balance`) as an actor: it never
 * crashes, but a race step can stop it at a backend call to interleave it with the service.
 */
export class ApplicationActor implements Actor {
  readonly name = 'app';
  readonly interceptor = new CallInterceptor();
  constructor(readonly clock: () => number) {}
  onBackendCall(call: MemoryCall): Promise<void> {
    return this.interceptor.intercept(call);
  }
}

export class World {
  readonly prng: Prng;
  readonly clocks: VirtualClocks;
  readonly chain: MemoryChain;
  readonly model: ChainModel;
  readonly auditor: Auditor;
  readonly stats = new RunStats();
  readonly log = new RingLog(() => `#${this.step}`);
  readonly threshold = BTC.confirmationThreshold;
  /** The step being run (0 during setup). */
  step = 0;
  /** Helper-service processes, one per slot; replaced when one dies. */
  readonly processes: SimProcess[] = [];
  /** Whose code is running now (backend calls are attributed to it), if anybody's. */
  actor: Actor | null = null;
  readonly applicationActor: ApplicationActor;
  /** Account names → accounts of the ledger wallet. */
  readonly accounts = new Map<string, Account>();
  /** Steps until the node comes back, while it is down. */
  downUntilStep = 0;
  /** Step after which the answer cap is lifted, while one is set. */
  capUntilStep = 0;

  private readonly directory: string;
  readonly databasePath: string;
  private readonly config: Config;
  private incarnations = [0, 0];
  /** Lease holder ids → process names, for the trace. */
  private readonly names = new Map<string, string>();

  private constructor(
    readonly seed: number,
    /** Users and the operator: never crashes. */
    readonly application: CryptoAssets,
    /** The auditor's own connection (no backend). */
    readonly auditorApp: CryptoAssets,
    chain: MemoryChain,
    clocks: VirtualClocks,
    prng: Prng,
    directory: string,
    databasePath: string,
  ) {
    this.chain = chain;
    this.clocks = clocks;
    this.prng = prng;
    this.directory = directory;
    this.databasePath = databasePath;
    this.model = new ChainModel(chain, NODE_WALLET);
    this.auditor = new Auditor(this.model, this.threshold);
    this.applicationActor = new ApplicationActor(clocks.monotonic(prng.int(0, 4_000_000_000)));
    this.config = parseConfig({
      database: { url: 'sqlite::memory:' },
      coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
      service: { log_level: 'silent' },
    });
  }

  /** Build the world of `seed`: chain, database, accounts and addresses, two processes. */
  static async create(seed: number): Promise<World> {
    const prng = new Prng(seed);
    const directory = mkdtempSync(join(tmpdir(), `cryptoassets-sim-${seed}-`));
    const databasePath = join(directory, 'ledger.sqlite');
    let world: World | undefined;
    const chain = new MemoryChain({
      network: BTC.networks.regtest!,
      seed: `simulation-${seed}`,
      // sendMany's deadline is checked by the client before the request leaves, on the caller's
      // own monotonic clock: the chain asks whichever process is calling.
      now: () => world?.chainNow() ?? 0,
    });
    chain.createWallet(NODE_WALLET);
    const clocks = new VirtualClocks(DATABASE_EPOCH_MS);
    const network = BTC.networks.regtest!;
    const application = await CryptoAssets.open({
      database: { kind: 'sqlite', path: databasePath, synchronous: 'normal', clock: clocks.database },
      coins: [{ coin: BTC, network, backend: chain.openWallet(NODE_WALLET) }],
      migrate: true,
    });
    const auditorApp = await CryptoAssets.open({
      database: { kind: 'sqlite', path: databasePath, synchronous: 'normal', clock: clocks.database },
      coins: [{ coin: BTC, network }],
    });
    world = new World(seed, application, auditorApp, chain, clocks, prng, directory, databasePath);
    chain.setCallHook((call) => world!.onBackendCall(call));
    await world.setUpAccounts();
    for (const slot of [0, 1]) world.processes.push(await world.startProcess(slot));
    return world;
  }

  /** Close every connection and delete the database file. */
  async dispose(): Promise<void> {
    this.chain.setCallHook(null);
    for (const process of this.processes) if (!process.dead) await process.kill('end of run').catch(() => undefined);
    await this.application.close().catch(() => undefined);
    await this.auditorApp.close().catch(() => undefined);
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** A new helper-service process in `slot`, on a monotonic clock of its own. */
  async startProcess(slot: number): Promise<SimProcess> {
    const incarnation = ++this.incarnations[slot]!;
    // A process's monotonic clock reads whatever it reads when it starts: far from any other's.
    const origin = this.prng.int(0, 4_000_000_000) - this.clocks.now;
    const process = await SimProcess.start(
      {
        name: `P${slot + 1}.${incarnation}`,
        databasePath: this.databasePath,
        databaseClock: this.clocks.database,
        clock: this.clocks.monotonic(origin),
        chain: this.chain,
        walletName: NODE_WALLET,
        config: this.config,
        leaseTtlMs: LEASE_TTL_MS,
      },
      this.log,
    );
    this.names.set(process.service.instance, process.name);
    return process;
  }

  /**
   * Run `action` as `actor` (its backend calls attributed to it); `'stalled'` when it stopped at a
   * stall armed on the actor. Actions of the application only.
   */
  async asApplication(action: () => Promise<unknown>): Promise<ActionOutcome | 'stalled'> {
    this.actor = this.applicationActor;
    try {
      return await this.applicationActor.interceptor.perform(action);
    } finally {
      this.actor = null;
    }
  }

  /** Let the stalled application action go on, and wait for it. */
  async resumeApplication(): Promise<ActionOutcome> {
    this.actor = this.applicationActor;
    try {
      return await this.applicationActor.interceptor.resume();
    } finally {
      this.actor = null;
    }
  }

  /** The chain's clock for a send's deadline: the calling process's own monotonic clock. */
  chainNow(): number {
    return this.actor ? this.actor.clock() : this.clocks.now;
  }

  /** The chain's call hook: record accepted sends, then let the calling process crash or stall. */
  private async onBackendCall(call: MemoryCall): Promise<void> {
    if (call.phase === 'after' && call.method === 'sendMany') {
      const sends = this.model.registerNewSends(this.step);
      this.stats.count('sends accepted', sends.length);
    }
    if (this.actor) await this.actor.onBackendCall(call);
  }

  /** The ledger wallet, its accounts and one or two receiving addresses each. */
  private async setUpAccounts(): Promise<void> {
    const btc = this.application.coin('btc');
    const names = [HOUSE, ...USERS];
    await btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet(LEDGER_WALLET);
      for (const name of names) this.accounts.set(name, await wallet.getOrCreateAccount(name));
    });
    for (const name of names) {
      const count = name === HOUSE ? 2 : this.prng.int(1, 2);
      for (let i = 0; i < count; i++) await this.createAddress(name);
    }
  }

  /** A new receiving address of an account, known to the model once the ledger recorded it. */
  async createAddress(account: string): Promise<string> {
    const address = await this.application.coin('btc').createReceivingAddress(LEDGER_WALLET, this.accounts.get(account)!);
    this.model.ourAddresses.set(address.address, account);
    return address.address;
  }

  /** The name of the process a lease holder id belongs to (any process ever started). */
  processName(instance: string): string {
    return this.names.get(instance) ?? instance;
  }

  /** Processes that can act now (alive, not stalled). */
  get activeProcesses(): SimProcess[] {
    return this.processes.filter((process) => !process.dead && process.stall === null);
  }

  /** Processes stopped at a backend call. */
  get stalledProcesses(): SimProcess[] {
    return this.processes.filter((process) => !process.dead && process.stall !== null);
  }

  /** Replace the process in its slot by a fresh one (after it died or was killed). */
  async replace(process: SimProcess, cause: string): Promise<SimProcess> {
    const slot = this.processes.indexOf(process);
    if (slot < 0) throw new Error(`${process.name} is not in a slot`);
    await process.kill(cause);
    const fresh = await this.startProcess(slot);
    this.processes[slot] = fresh;
    return fresh;
  }
}
