/**
 * A real Litecoin Core node in regtest, started by tests, benchmarks and the live demo themselves:
 * free loopback ports, a fresh temporary datadir, the daemon as a child process (it dies with the
 * test process), a "miner" wallet holding mature coins, and helpers to mine, pay, restart, stop
 * and connect nodes. Litecoin Core 0.21 speaks Bitcoin Core 0.21's JSON-RPC.
 *
 * The daemon is `LITECOIND` (default /usr/lib/litecoin/litecoind: the real binary; /usr/bin/litecoind
 * is a wrapper that writes ~/.litecoin first). Development tooling: never point it at a real
 * network; it only ever starts regtest nodes on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonNumber } from '../backends/bitcoind/lossless-json.js';
import { RpcClient } from '../backends/bitcoind/rpc-client.js';
import { DEFAULTS } from '../config/defaults.js';
import type { BitcoindAuth, BitcoindBackendConfig } from '../config/types.js';
import { BackendError } from '../domain/errors.js';

/** The daemon binary. */
export const LITECOIND_PATH = process.env.LITECOIND ?? '/usr/lib/litecoin/litecoind';

/** Whether the daemon binary exists and is executable. */
export function litecoindAvailable(): boolean {
  try {
    accessSync(LITECOIND_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Options of `RegtestNode.start`. */
export interface RegtestNodeOptions {
  /** A `walletnotify` command line (`%s` is the txid, `%w` the wallet). */
  readonly walletnotify?: string;
  /** Authenticate with the node's cookie file instead of rpcuser/rpcpassword. */
  readonly cookieAuth?: boolean;
  /** Mine 101 blocks to the miner wallet at start so it holds mature coins. Default true. */
  readonly mature?: boolean;
  /** More lines for the `[regtest]` section. */
  readonly extraConfig?: readonly string[];
  /** Time limit of the start, RPC readiness included. Default 30 000 ms. */
  readonly startTimeoutMs?: number;
  /**
   * Time limit of one RPC call. Default 60 000 ms; the benchmark's wallets of 10,000 payments take
   * the node longer than that to settle on a slow machine.
   */
  readonly rpcTimeoutMs?: number;
  /** Gives up the start when aborted: the node is killed and its datadir removed. */
  readonly signal?: AbortSignal;
}

/** Nodes still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
/** Nodes started or starting and not yet stopped: what `stopAllRegtestNodes` stops. */
const live = new Set<RegtestNode>();
let exitHookInstalled = false;

/**
 * Kill every node this process started (also one still starting) and remove their datadirs: for
 * a signal handler, where there is no time for a clean `stop` RPC and nothing to keep.
 */
export async function stopAllRegtestNodes(): Promise<void> {
  await Promise.all([...live].map((node) => node.kill()));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

let walletCounter = 0;

/** One regtest node; see the module comment. */
export class RegtestNode {
  /** Name of the wallet that mines and pays. */
  readonly minerWallet = 'miner';
  readonly datadir: string;
  readonly rpcPort: number;
  readonly p2pPort: number;
  /** JSON-RPC URL without credentials. */
  readonly url: string;
  /** RPC user and password; undefined with cookie authentication. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Where the node writes its cookie (used with cookie authentication). */
  readonly cookieFile: string;
  /** Credentials in the configuration's shape. */
  readonly auth: BitcoindAuth;
  private readonly options: RegtestNodeOptions;
  private child: ChildProcess | undefined;
  private stderr = '';
  private client: RpcClient;
  private minerAddress = '';
  /** Wallets to load again after a restart. */
  private readonly loaded = new Set<string>();

  private constructor(options: RegtestNodeOptions, datadir: string, rpcPort: number, p2pPort: number) {
    this.options = options;
    this.datadir = datadir;
    this.rpcPort = rpcPort;
    this.p2pPort = p2pPort;
    this.url = `http://127.0.0.1:${rpcPort}`;
    this.cookieFile = join(datadir, 'regtest', '.cookie');
    if (options.cookieAuth) {
      this.username = undefined;
      this.password = undefined;
      this.auth = { kind: 'cookie', cookieFile: this.cookieFile };
    } else {
      this.username = 'cryptoassets';
      this.password = `pw-${process.pid}-${Math.random().toString(36).slice(2)}`;
      this.auth = { kind: 'password', username: this.username, password: this.password };
    }
    this.client = new RpcClient({
      url: this.url,
      auth: this.auth,
      timeoutMs: this.options.rpcTimeoutMs ?? 60_000,
      retry: { attempts: 1, baseDelayMs: 0 },
    });
  }

  /** Start a node in a fresh datadir, with a miner wallet (and mature coins unless `mature: false`). */
  static async start(options: RegtestNodeOptions = {}): Promise<RegtestNode> {
    const [rpcPort, p2pPort] = [await freePort(), await freePort()];
    options.signal?.throwIfAborted();
    // From here to the spawn in launch() nothing awaits: a node is in `live` before its daemon runs.
    const datadir = mkdtempSync(join(tmpdir(), 'cryptoassets-regtest-'));
    const node = new RegtestNode(options, datadir, rpcPort, p2pPort);
    live.add(node);
    try {
      node.writeConfig();
      await node.launch();
      await node.rpc('createwallet', node.minerWallet);
      node.loaded.add(node.minerWallet);
      node.minerAddress = (await node.walletRpc(node.minerWallet, 'getnewaddress', 'mining', 'bech32')) as string;
      if (options.mature ?? true) await node.mine(101);
      options.signal?.throwIfAborted();
    } catch (error) {
      await node.kill();
      throw error;
    }
    return node;
  }

  /** Call a node-level method (no wallet). Numbers in the answer are `JsonNumber`s. */
  rpc(method: string, ...params: unknown[]): Promise<unknown> {
    return this.client.call(method, params);
  }

  /** Call a method on `wallet`. */
  walletRpc(wallet: string, method: string, ...params: unknown[]): Promise<unknown> {
    return this.client.forWallet(wallet).call(method, params);
  }

  /** Create a wallet with a unique name starting with `prefix`; returns the name. */
  async createWallet(prefix = 'test'): Promise<string> {
    const name = `${prefix}-${++walletCounter}`;
    await this.rpc('createwallet', name);
    this.loaded.add(name);
    return name;
  }

  /** Unload a wallet made by `createWallet` (keeps the node fast when tests make many). */
  async unloadWallet(name: string): Promise<void> {
    this.loaded.delete(name);
    await this.rpc('unloadwallet', name);
  }

  /**
   * Wait until every wallet has caught up with the node. Wallets learn of mempool transactions and
   * blocks from a queue that the node works off in the background, so right after one wallet pays
   * another, or a block is mined or invalidated, the other wallet may not know yet.
   */
  async settle(): Promise<void> {
    await this.rpc('syncwithvalidationinterfacequeue');
  }

  /** Mine `blocks` blocks to the miner wallet; returns their hashes. Wallets are settled. */
  async mine(blocks = 1): Promise<string[]> {
    const hashes = (await this.rpc('generatetoaddress', blocks, this.minerAddress)) as string[];
    await this.settle();
    return hashes;
  }

  /**
   * Pay `amountText` coins (decimal text) from the miner wallet to `address`, unconfirmed; returns
   * the txid once the receiving wallet knows it.
   */
  async fund(address: string, amountText: string): Promise<string> {
    const txid = (await this.walletRpc(this.minerWallet, 'sendtoaddress', address, new JsonNumber(amountText))) as string;
    await this.settle();
    return txid;
  }

  /** A fresh address of the miner wallet: somebody else's address from a test wallet's view. */
  async minerNewAddress(): Promise<string> {
    return (await this.walletRpc(this.minerWallet, 'getnewaddress')) as string;
  }

  /** Height of the best block. */
  async height(): Promise<number> {
    return ((await this.rpc('getblockcount')) as JsonNumber).toNumber();
  }

  /** Configuration of a bitcoind backend on `wallet` of this node. */
  backendConfig(wallet: string, overrides: Partial<BitcoindBackendConfig> = {}): BitcoindBackendConfig {
    return {
      type: 'bitcoind',
      url: this.url,
      auth: this.auth,
      wallet,
      timeoutMs: 30_000,
      maxAnswerBytes: DEFAULTS.backend.bitcoind.maxAnswerBytes,
      addressType: 'bech32',
      ...overrides,
    };
  }

  /** Connect to `other` (peer-to-peer, networking switched on) and wait until connected. */
  async connect(other: RegtestNode): Promise<void> {
    await this.rpc('setnetworkactive', true);
    await other.rpc('setnetworkactive', true);
    await this.rpc('addnode', `127.0.0.1:${other.p2pPort}`, 'onetry');
    await waitUntil(async () => ((await this.rpc('getconnectioncount')) as JsonNumber).toNumber() > 0, 10_000, 'peers connect');
  }

  /**
   * Switch networking off (peers are dropped) so that the chains can diverge; `connect` switches
   * it on again. Left on, the node would reconnect by itself to the peers it has learnt.
   */
  async isolate(): Promise<void> {
    await this.rpc('setnetworkactive', false);
    await waitUntil(async () => ((await this.rpc('getconnectioncount')) as JsonNumber).toNumber() === 0, 10_000, 'peers disconnect');
  }

  /** Wait until this node's best block is `other`'s, and this node's wallets have caught up. */
  async syncWith(other: RegtestNode, timeoutMs = 20_000): Promise<void> {
    await waitUntil(async () => (await this.rpc('getbestblockhash')) === (await other.rpc('getbestblockhash')), timeoutMs, 'chains sync');
    await this.settle();
  }

  /** Stop the node (RPC `stop`), wait for the process to end, keep the datadir. */
  async shutdown(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await this.rpc('stop').catch(() => child.kill('SIGTERM'));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    running.delete(child);
  }

  /** Stop the node and delete its datadir. Safe to call twice. */
  async stop(): Promise<void> {
    await this.shutdown();
    rmSync(this.datadir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Stop and start again with the same datadir and ports; wallets in use are loaded again. */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.launch();
    for (const wallet of this.loaded) await this.rpc('loadwallet', wallet);
  }

  private writeConfig(): void {
    const options = this.options;
    const lines = [
      'regtest=1',
      'server=1',
      'txindex=1',
      'fallbackfee=0.0001',
      'rpcworkqueue=1024',
      'rpcthreads=16',
      'dnsseed=0',
      'listenonion=0',
      'printtoconsole=0',
      // A small key pool makes createwallet take 0.1 s instead of about 1 s.
      'keypool=10',
      '[regtest]',
      ...(this.username !== undefined ? [`rpcuser=${this.username}`, `rpcpassword=${this.password}`] : []),
      'rpcbind=127.0.0.1',
      'rpcallowip=127.0.0.1',
      `rpcport=${this.rpcPort}`,
      `port=${this.p2pPort}`,
      'bind=127.0.0.1',
      'listen=1',
      'dnsseed=0',
      'fixedseeds=0',
      ...(options.walletnotify !== undefined ? [`walletnotify=${options.walletnotify}`] : []),
      ...(options.extraConfig ?? []),
    ];
    writeFileSync(join(this.datadir, 'litecoin.conf'), `${lines.join('\n')}\n`);
  }

  /** Run the daemon and wait until RPC answers. */
  private async launch(): Promise<void> {
    installExitHook();
    this.stderr = '';
    const child = spawn(LITECOIND_PATH, [`-datadir=${this.datadir}`, '-daemon=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    running.add(child);
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    const failedToStart = new Promise<never>((_resolve, reject) => {
      child.once('error', (error) => reject(new Error(`cannot run ${LITECOIND_PATH}: ${error.message}`)));
      child.once('exit', (code, signal) =>
        reject(new Error(`litecoind exited during start-up (code ${code}, signal ${signal}): ${this.stderr.trim()}`)),
      );
    });
    failedToStart.catch(() => undefined);
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 30_000);
    const probe = new RpcClient({ url: this.url, auth: this.auth, timeoutMs: 2000, retry: { attempts: 1, baseDelayMs: 0 } });
    for (;;) {
      const ready = probe.call('getblockcount', [], { idempotent: true }).then(
        () => true,
        (error: unknown) => {
          // Not listening yet, no cookie yet, or warming up (-28): keep polling. Anything else is real.
          if (error instanceof BackendError && error.retryable) return false;
          throw error;
        },
      );
      if (await Promise.race([ready, failedToStart])) return;
      if (this.options.signal?.aborted) {
        await this.kill();
        this.options.signal.throwIfAborted();
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`litecoind did not answer RPC within the time limit: ${this.stderr.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** @internal Kill the daemon at once (no clean stop) and delete the datadir. Safe to call twice. */
  async kill(): Promise<void> {
    live.delete(this);
    const child = this.child;
    if (child) {
      running.delete(child);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(this.datadir, { recursive: true, force: true });
  }
}

/** A loopback port that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Poll `condition` until it holds, or fail naming `what`. */
export async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
