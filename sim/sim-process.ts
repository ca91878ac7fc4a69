/**
 * One simulated helper-service process: its own `CryptoAssets` on its own SQLite connection to
 * the shared file, its own backend handle on the shared chain, and a `HelperService` in manual
 * mode on its own monotonic clock. It can be armed to crash or stall at a chosen await, and is
 * abandoned after a crash (its connection closed, as a kill would) for a fresh one.
 */
import { CryptoAssets } from '../src/app.js';
import type { MemoryCall, MemoryChain } from '../src/backends/memory/index.js';
import type { Config } from '../src/config/types.js';
import { BTC } from '../src/domain/coins.js';
import type { LedgerLog } from '../src/ledger/coin-ledger.js';
import { HelperService } from '../src/service/helper-service.js';
import type { Database, SqlExecutor, SqlRow, SqlValue, TransactionMode } from '../src/store/database.js';
import { SqliteDatabase } from '../src/store/sqlite/sqlite-database.js';
import { type CallTrigger, describeTrigger, SimulatedCrash, SimulatedDatabaseFault, triggerFires } from './crash.js';
import { type ActionOutcome, type Actor, CallInterceptor } from './interceptor.js';

/** Everything a process needs from the world that starts it. */
export interface ProcessSetup {
  /** e.g. `P1.3`: slot 1, third process started in it. */
  readonly name: string;
  readonly databasePath: string;
  readonly databaseClock: () => number;
  /** The process's monotonic clock. */
  readonly clock: () => number;
  readonly chain: MemoryChain;
  readonly walletName: string;
  readonly config: Config;
  readonly leaseTtlMs: number;
}

export class SimProcess implements Actor {
  readonly name: string;
  readonly clock: () => number;
  readonly app: CryptoAssets;
  readonly service: HelperService;
  /** Killed: every later statement and backend call throws. */
  dead = false;
  /** Why it died, for the trace. */
  deathCause: string | null = null;
  /** Virtual time of its last `keepLease` (its lease task's schedule). */
  lastKeepLeaseAt = Number.NEGATIVE_INFINITY;

  private readonly interceptor = new CallInterceptor();
  private statementCrashIn: number | null = null;
  private statementFault: { in: number; readonly kind: 'busy' | 'io' } | null = null;
  private callCrash: CallTrigger | null = null;

  private constructor(setup: ProcessSetup, app: CryptoAssets, service: HelperService) {
    this.name = setup.name;
    this.clock = setup.clock;
    this.app = app;
    this.service = service;
  }

  /** Open the process's connection, ledger and service (no lease taken yet). */
  static async start(setup: ProcessSetup, log: LedgerLog): Promise<SimProcess> {
    // The connection's statements must reach the process to crash it, and the process needs
    // the opened ledger: the wrapper finds the process once it exists.
    let process: SimProcess | undefined;
    const sqlite = new SqliteDatabase({ path: setup.databasePath, synchronous: 'normal', clock: setup.databaseClock });
    const database = crashableDatabase(
      sqlite,
      () => process?.beforeStatement(),
      () => process?.dead ?? false,
    );
    const backend = setup.chain.openWallet(setup.walletName);
    const app = await CryptoAssets.open({ database, coins: [{ coin: BTC, network: BTC.networks.regtest!, backend }] });
    const service = new HelperService(app, setup.config, log, { manual: true, clock: setup.clock, leaseTtlMs: setup.leaseTtlMs });
    process = new SimProcess(setup, app, service);
    return process;
  }

  /** The backend call the process is stopped at, if it is. */
  get stall(): { readonly call: MemoryCall } | null {
    return this.interceptor.stall;
  }

  /** True when the service believes it holds the lease (it then syncs and broadcasts). */
  get running(): boolean {
    return !this.dead && this.stall === null && this.service.currentState === 'running';
  }

  /** Crash at the `index`-th SQL statement from now (0: the next one). */
  armStatementCrash(index: number): string {
    this.statementCrashIn = index;
    return `crash at statement +${index}`;
  }

  /** Fail the `index`-th SQL statement from now with a database error; the process lives on. */
  armStatementFault(index: number, kind: 'busy' | 'io'): string {
    this.statementFault = { in: index, kind };
    return `database ${kind} at statement +${index}`;
  }

  /** Crash at a backend call. */
  armCallCrash(trigger: CallTrigger): string {
    this.callCrash = trigger;
    return `crash at ${describeTrigger(trigger)}`;
  }

  /** Stop at a backend call until resumed or killed. */
  armStall(trigger: CallTrigger): string {
    this.interceptor.armStall(trigger);
    return `stall at ${describeTrigger(trigger)}`;
  }

  /** Forget armed crashes and stalls that did not fire. */
  disarm(): void {
    this.statementCrashIn = null;
    this.statementFault = null;
    this.callCrash = null;
    this.interceptor.disarm();
  }

  /** Run one action; `'stalled'` when it stopped at an armed stall (see `CallInterceptor`). */
  perform(action: () => Promise<unknown>): Promise<ActionOutcome | 'stalled'> {
    return this.interceptor.perform(action);
  }

  /** Let a stalled process go on, and wait for the action it was stopped in. */
  resume(): Promise<ActionOutcome> {
    return this.interceptor.resume();
  }

  /**
   * Kill the process: nothing it does afterwards takes effect, and its connection is closed (an
   * open transaction of it rolls back). A stalled process stays stopped forever.
   */
  async kill(cause: string): Promise<void> {
    this.dead = true;
    this.deathCause ??= cause;
    await this.app.close();
  }

  /** Called by the chain's call hook for every backend call this process makes. */
  async onBackendCall(call: MemoryCall): Promise<void> {
    if (this.dead) throw new SimulatedCrash(`(${this.name} is dead) at ${call.method}/${call.phase}`);
    if (this.callCrash && triggerFires(this.callCrash, call)) {
      this.callCrash = null;
      this.die(`at ${call.method}/${call.phase}`);
    }
    await this.interceptor.intercept(call);
    if (this.dead) throw new SimulatedCrash(`(${this.name} was killed while stalled) at ${call.method}/${call.phase}`);
  }

  /** Called before every SQL statement of this process. */
  private beforeStatement(): void {
    if (this.dead) throw new SimulatedCrash(`(${this.name} is dead) at an SQL statement`);
    if (this.statementFault !== null && this.statementFault.in-- === 0) {
      const kind = this.statementFault.kind;
      this.statementFault = null;
      throw new SimulatedDatabaseFault(kind);
    }
    if (this.statementCrashIn === null) return;
    if (this.statementCrashIn > 0) {
      this.statementCrashIn--;
      return;
    }
    this.statementCrashIn = null;
    this.die('at an SQL statement');
  }

  private die(where: string): never {
    this.dead = true;
    this.deathCause = where;
    throw new SimulatedCrash(`of ${this.name} ${where}`);
  }
}

/**
 * The process's view of its SQLite connection: every statement first asks `beforeStatement`,
 * which throws once the process is dead (or at the armed statement), so the statement never runs
 * and the transaction around it rolls back — even if the code inside caught the crash and went
 * on: a killed process commits nothing.
 */
function crashableDatabase(inner: Database, beforeStatement: () => void, dead: () => boolean): Database {
  const executor = (tx: SqlExecutor): SqlExecutor => ({
    async all<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
      beforeStatement();
      return tx.all<T>(sql, params);
    },
    async get<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
      beforeStatement();
      return tx.get<T>(sql, params);
    },
    async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
      beforeStatement();
      return tx.run(sql, params);
    },
  });
  return {
    engine: inner.engine,
    transaction<T>(mode: TransactionMode, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return inner.transaction(mode, async (tx) => {
        const result = await fn(executor(tx));
        if (dead()) throw new SimulatedCrash('(the process died inside this transaction) at its commit');
        return result;
      });
    },
    isConflict: (error) => inner.isConflict(error),
    version: () => inner.version(),
    close: () => inner.close(),
  };
}
