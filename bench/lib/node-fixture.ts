/**
 * The regtest node shared by the node scenarios, and the chain data they need.
 *
 * Payments: "N payments to N different addresses" are N separate transactions, one receiving
 * address each. To make thousands quickly without the 25-transaction chain limit, the miner first
 * splits coins into one output per 20 payments (one `sendmany`, then a block), and every payment
 * spends the change of the previous one in its chain (at most 20 unconfirmed in a row). Payments
 * are built with createrawtransaction / signrawtransactionwithwallet / sendrawtransaction in
 * batches of 500. They stay in the mempool until a scenario mines them.
 *
 * Wallet notifications: the node runs `[ %w = intake ] && [ -e GATE ] && [ -p FIFO ] && echo %s > FIFO`,
 * so only the `intake` wallet notifies, and only while the deposit scenario has the gate open.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { RpcClient } from '../../src/backends/bitcoind/rpc-client.js';
import { RegtestNode } from '../../src/devtools/regtest-node.js';
import { progress } from './log.js';
import { RawRpc } from './raw-rpc.js';
import type { Mode } from './types.js';

/** Base units (litoshi) per LTC. */
const COIN = 100_000_000n;
/** Each deposit: 0.001 LTC. */
export const PAYMENT_AMOUNT = 100_000n;
/** Fee of each payment transaction (1 input, 2 outputs, about 141 vB: about 14 sat/vB). */
const PAYMENT_FEE = 2_000n;
/** Payments per chain of unconfirmed transactions (the node allows 25). */
const CHAIN_DEPTH = 20;
const BATCH = 500;

/** The wallet the deposit scenario's service listens to (the only one whose notifications pass). */
export const INTAKE_WALLET = 'intake';

export function coins(units: bigint): JsonNumber {
  const whole = units / COIN;
  const fraction = (units % COIN).toString().padStart(8, '0');
  return new JsonNumber(`${whole}.${fraction}`);
}

/** A node wallet that received one payment per address. */
export interface PaidWallet {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly txids: readonly string[];
}

export class NodeFixture {
  /** Sizes of the wallets the polling and rescan scenarios use. */
  readonly sizes: readonly number[];
  readonly fifo: string;
  readonly gate: string;
  private readonly wallets = new Map<number, PaidWallet>();
  private readonly miner: RpcClient;
  private changeAddress = '';

  private constructor(
    readonly node: RegtestNode,
    readonly dir: string,
    mode: Mode,
  ) {
    this.sizes = mode === 'quick' ? [100, 1000] : [100, 1000, 10_000];
    this.fifo = join(dir, 'walletnotify.fifo');
    this.gate = join(dir, 'gate');
    this.miner = this.client(node.minerWallet);
  }

  static async start(dir: string, mode: Mode): Promise<NodeFixture> {
    mkdirSync(dir, { recursive: true });
    const fifo = join(dir, 'walletnotify.fifo');
    const gate = join(dir, 'gate');
    progress('starting the regtest node');
    const node = await RegtestNode.start({
      // Settling after 10,000 payments took over a minute on the shared machine (2026-12-01).
      rpcTimeoutMs: 600_000,
      walletnotify: `[ %w = ${INTAKE_WALLET} ] && [ -e ${gate} ] && [ -p ${fifo} ] && echo %s > ${fifo}`,
    });
    const fixture = new NodeFixture(node, dir, mode);
    try {
      await node.mine(10); // more mature coinbase outputs to pay from
      fixture.changeAddress = await node.minerNewAddress();
    } catch (error) {
      await node.stop();
      throw error;
    }
    return fixture;
  }

  /** The library's RPC client for a wallet (setup calls; numbers as JsonNumber). */
  client(wallet?: string): RpcClient {
    return new RpcClient({
      url: this.node.url,
      auth: this.node.auth,
      timeoutMs: 600_000,
      retry: { attempts: 1, baseDelayMs: 0 },
      ...(wallet !== undefined ? { wallet } : {}),
    });
  }

  /** A bare fetch client for baselines. */
  raw(wallet?: string): RawRpc {
    return new RawRpc({
      url: this.node.url,
      username: this.node.username!,
      password: this.node.password!,
      ...(wallet !== undefined ? { wallet } : {}),
    });
  }

  walletName(size: number): string {
    return `size-${size}`;
  }

  /** A wallet with `count` fresh addresses (created on the node, not paid yet). */
  async createAddressWallet(name: string, count: number): Promise<string[]> {
    await this.node.rpc('createwallet', name);
    return this.newAddresses(name, count);
  }

  /** `count` fresh addresses of an existing wallet of the node. */
  async newAddresses(name: string, count: number): Promise<string[]> {
    const client = this.client(name);
    const addresses: string[] = [];
    for (let start = 0; start < count; start += 1000) {
      const n = Math.min(1000, count - start);
      const answers = await client.batch(Array.from({ length: n }, () => ({ method: 'getnewaddress', params: ['', 'bech32'] })));
      for (const answer of answers) {
        if (!answer.ok) throw answer.error;
        addresses.push(answer.result as string);
      }
    }
    return addresses;
  }

  /** Pay each address once, each in its own transaction; returns the txids (in the mempool). */
  async payEach(addresses: readonly string[]): Promise<string[]> {
    const chains = Math.ceil(addresses.length / CHAIN_DEPTH);
    const perChain = PAYMENT_AMOUNT + PAYMENT_FEE;
    const rootValue = perChain * BigInt(CHAIN_DEPTH) + 100_000n;
    // Roots: one confirmed output per chain.
    const rootAddresses = await this.minerAddresses(chains);
    const roots: { txid: string; vout: number; value: bigint }[] = [];
    for (let start = 0; start < chains; start += 1000) {
      const slice = rootAddresses.slice(start, start + 1000);
      const outputs: Record<string, JsonNumber> = {};
      for (const address of slice) outputs[address] = coins(rootValue);
      const txid = (await this.miner.call('sendmany', ['', outputs])) as string;
      const tx = (await this.node.rpc('getrawtransaction', txid, true)) as {
        vout: { n: JsonNumber; scriptPubKey: { address?: string; addresses?: string[] } }[];
      };
      const wanted = new Set(slice);
      for (const output of tx.vout) {
        const address = output.scriptPubKey.address ?? output.scriptPubKey.addresses?.[0];
        if (address !== undefined && wanted.has(address)) roots.push({ txid, vout: output.n.toNumber(), value: rootValue });
      }
    }
    await this.node.mine(1);
    // Payment d of every chain, for d = 0 … CHAIN_DEPTH-1: spends the previous change (vout 1).
    const txids: string[] = new Array(addresses.length);
    const heads = roots.map((root) => ({ ...root }));
    for (let depth = 0; depth < CHAIN_DEPTH; depth++) {
      const jobs: { chain: number; index: number }[] = [];
      for (let chain = 0; chain < heads.length; chain++) {
        const index = chain * CHAIN_DEPTH + depth;
        if (index < addresses.length) jobs.push({ chain, index });
      }
      for (let start = 0; start < jobs.length; start += BATCH) {
        const slice = jobs.slice(start, start + BATCH);
        const created = await this.miner.batch(
          slice.map(({ chain, index }) => {
            const head = heads[chain]!;
            const change = head.value - PAYMENT_AMOUNT - PAYMENT_FEE;
            return {
              method: 'createrawtransaction',
              params: [
                [{ txid: head.txid, vout: head.vout }],
                [{ [addresses[index]!]: coins(PAYMENT_AMOUNT) }, { [this.changeAddress]: coins(change) }],
              ],
            };
          }),
        );
        const signed = await this.miner.batch(
          created.map((answer) => ({ method: 'signrawtransactionwithwallet', params: [unwrap(answer)] })),
        );
        const sent = await this.miner.batch(
          signed.map((answer) => {
            const result = unwrap(answer) as { hex: string; complete: boolean };
            if (!result.complete) throw new Error('signrawtransactionwithwallet: incomplete');
            return { method: 'sendrawtransaction', params: [result.hex] };
          }),
        );
        slice.forEach(({ chain, index }, i) => {
          const txid = unwrap(sent[i]!) as string;
          txids[index] = txid;
          const head = heads[chain]!;
          heads[chain] = { txid, vout: 1, value: head.value - PAYMENT_AMOUNT - PAYMENT_FEE };
        });
      }
    }
    await this.node.settle();
    return txids;
  }

  /** The wallet of `size` with one payment per address, paid now if it was not (left unmined). */
  async paidWallet(size: number): Promise<PaidWallet> {
    const existing = this.wallets.get(size);
    if (existing) return existing;
    const name = this.walletName(size);
    progress(`node: ${size.toLocaleString('en-US')} addresses and payments for wallet ${name}`);
    const addresses = await this.createAddressWallet(name, size);
    const txids = await this.payEach(addresses);
    const wallet = { name, addresses, txids };
    this.wallets.set(size, wallet);
    return wallet;
  }

  /** Mine until the mempool is empty; returns the number of blocks. */
  async mineAll(): Promise<number> {
    let blocks = 0;
    for (;;) {
      const info = (await this.node.rpc('getmempoolinfo')) as { size: JsonNumber };
      if (info.size.toNumber() === 0) {
        await this.node.settle();
        return blocks;
      }
      await this.node.rpc('generatetoaddress', 1, this.changeAddress);
      blocks++;
      if (blocks > 50) throw new Error('the mempool does not empty');
    }
  }

  /** `count` fresh addresses of the miner wallet. */
  async minerAddresses(count: number): Promise<string[]> {
    const addresses: string[] = [];
    for (let start = 0; start < count; start += 1000) {
      const n = Math.min(1000, count - start);
      const answers = await this.miner.batch(Array.from({ length: n }, () => ({ method: 'getnewaddress', params: ['', 'bech32'] })));
      for (const answer of answers) addresses.push(unwrap(answer) as string);
    }
    return addresses;
  }

  openGate(): void {
    writeFileSync(this.gate, '');
  }

  closeGate(): void {
    if (existsSync(this.gate)) rmSync(this.gate);
  }

  async stop(): Promise<void> {
    this.closeGate();
    await this.node.stop();
  }
}

function unwrap(answer: { ok: true; result: unknown } | { ok: false; error: Error }): unknown {
  if (!answer.ok) throw answer.error;
  return answer.result;
}
