/**
 * The auditor on the real node: for CHAOS_DURATION_S seconds (default 100 in CI, 30 elsewhere), a
 * seeded loop against Litecoin Core regtest, with the helper service as a child process on the
 * same SQLite ledger as this test:
 *
 * - a payer wallet on the node pays our receiving addresses (one or several per transaction);
 * - the application (this process) queues withdrawals, now and then cancels a queued one;
 * - blocks are mined; the chain is reorganised (invalidateblock 1–4 blocks deep, then a longer
 *   chain mined: the disconnected transactions come back and confirm again);
 * - the service is killed with SIGKILL at random moments and restarted, at once or a little later;
 * - like an operator, broadcasts the service put under vetting are settled by looking up their
 *   comment on the node (sent: closed with its txid and fee; not there: returned to the queue,
 *   which `resolveBroadcast` refuses while a send could still be in flight).
 *
 * Then faults stop, the service runs, blocks are mined until the queue is empty and no broadcast
 * is open, and the auditor compares the ledger with the node (see `audit`). The seed is printed
 * at the start and in every failure: CHAOS_SEED=<seed> replays the same choices (timing still
 * varies: the service and the node run on their own).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { loadConfigFile } from '../../src/config/load.js';
import { formatAmount, parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import { CryptoAssetsError, InvalidState } from '../../src/domain/errors.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { resolveBroadcast } from '../../src/service/broadcast-reconciler.js';
import { broadcastSettledCheck } from '../../src/service/timings.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/child-service.js';
import { describeWithNode, RegtestNode, waitUntil } from '../helpers/regtest.js';

const DURATION_S = Number(process.env.CHAOS_DURATION_S ?? (process.env.CI === 'true' ? 100 : 30));
const SEED = process.env.CHAOS_SEED ?? randomBytes(4).toString('hex');
const TTL_MS = 4_000;
const TIMEOUT_MS = 2_000;
const USERS = 6;
const THRESHOLD = LTC.confirmationThreshold;

/** mulberry32 on a 32-bit seed: the loop's every choice. */
function rng(seedHex: string): () => number {
  let a = Number.parseInt(seedHex.slice(0, 8), 16) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const coins = (units: bigint) => new JsonNumber(formatAmount(units, LTC));
const units = (value: JsonNumber) => parseAmount(value.text, LTC, { allowZero: true, allowNegative: true });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A payment of ours to the ledger's addresses, as the payer made it. */
interface Payment {
  readonly txid: string;
  readonly outputs: readonly { readonly address: string; readonly amount: bigint }[];
}

/** A withdrawal the application queued. */
interface Queued {
  readonly id: number;
  readonly destination: string;
  readonly amount: bigint;
  cancelled: boolean;
}

describeWithNode()('chaos on Litecoin Core regtest: the helper service killed, the chain reorganised', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-chaos-'));
  const configPath = join(dir, 'cryptoassets.yaml');
  let node: RegtestNode;
  let hot: string;
  let payer: string;
  let app: CryptoAssets;

  beforeAll(async () => {
    node = await RegtestNode.start();
    hot = await node.createWallet('hot');
    payer = await node.createWallet('payer');
    writeFileSync(
      configPath,
      `database: {url: "sqlite:${join(dir, 'ledger.sqlite')}"}
coins:
  ltc:
    network: regtest
    backend: {type: bitcoind, url: "${node.url}", username: "${node.username}", password: "\${LTC_PASSWORD}", wallet: "${hot}", timeout_ms: ${TIMEOUT_MS}}
status_server: {enabled: false}
service: {lease_ttl: ${TTL_MS / 1000}, broadcast_period: 0.3, poll_period: 0.3, log_level: warn}
`,
    );
    app = await openFromConfig(await loadConfigFile(configPath, { ...process.env, LTC_PASSWORD: node.password }), { migrate: true });
    await node.mine(25); // the miner's coins: 26 mature coinbases
    // The payer holds 50 confirmed coins of 2 LTC, buried deeper than any reorganisation here.
    const outputs: Record<string, JsonNumber> = {};
    for (let i = 0; i < 50; i++) outputs[(await node.walletRpc(payer, 'getnewaddress')) as string] = new JsonNumber('2');
    await node.walletRpc(node.minerWallet, 'sendmany', '', outputs);
    // The hot wallet holds 20 LTC that the ledger books onto the house account.
    await node.fund((await node.walletRpc(hot, 'getnewaddress')) as string, '20');
    await node.mine(10);
    const house = await app.coin('ltc').transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('house'));
    expect((await app.coin('ltc').importBalance('main', house)).imported).toBe(2_000_000_000n);
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it(
    `pays every withdrawal once and credits every deposit once (CHAOS_SEED=${SEED}, ${DURATION_S} s)`,
    { timeout: (DURATION_S + 240) * 1000 },
    async () => {
      console.info(`chaos: CHAOS_SEED=${SEED} CHAOS_DURATION_S=${DURATION_S}`);
      const random = rng(SEED);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
      const ltc = app.coin('ltc');
      const settled = broadcastSettledCheck(app.database, TTL_MS, TIMEOUT_MS);
      const env = { LTC_PASSWORD: node.password };
      const payments: Payment[] = [];
      const queued: Queued[] = [];
      const counts: Record<string, number> = {};
      const anomalies: string[] = [];
      const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);
      let service: ServiceProcess | undefined = startServiceProcess(configPath, env);
      const outputs: string[] = [];

      const users = await ltc.transaction(async (book) => {
        const main = await book.wallet('main');
        const list = [];
        for (let i = 0; i < USERS; i++) list.push(await main.getOrCreateAccount(`user-${i}`));
        return list;
      });
      const house = await ltc.read(async (book) => (await book.wallet('main')).getAccount('house'));
      const addresses: string[] = [];
      for (const user of users) addresses.push((await ltc.createReceivingAddress('main', user)).address);

      /**
       * What the wallets' own rebroadcasting does, at once: invalidateblock lowers the height before
       * the disconnected transactions return to the mempool, so those whose lock time (the wallet
       * sets it to the height it was made at) is now in the future are dropped. Sent again after
       * the longer chain was mined, they are accepted.
       */
      const rebroadcast = async () => {
        for (let pass = 0; pass < 5; pass++) {
          let progress = false;
          const pool = new Set((await node.rpc('getrawmempool')) as string[]);
          for (const wallet of [payer, hot]) {
            const listed = (await node.walletRpc(wallet, 'listtransactions', '*', 100_000)) as {
              txid: string;
              confirmations: JsonNumber;
            }[];
            const dropped = new Set(listed.filter((e) => e.confirmations.toNumber() === 0 && !pool.has(e.txid)).map((e) => e.txid));
            for (const txid of dropped) {
              const { hex } = (await node.walletRpc(wallet, 'gettransaction', txid)) as { hex: string };
              const accepted = await node.rpc('sendrawtransaction', hex).then(
                () => true,
                () => false, // a parent not back yet: the next pass
              );
              if (accepted) {
                pool.add(txid);
                progress = true;
                count('rebroadcast');
              }
            }
          }
          if (!progress) return;
        }
      };

      /** Mine, naming the mempool transaction the node's block template refused, if any. */
      const mine = async (blocks: number) => {
        try {
          await node.mine(blocks);
        } catch (error) {
          const txid = /tx hash ([0-9a-f]{64})/.exec(String(error))?.[1];
          const detail = txid ? JSON.stringify(await node.rpc('getrawtransaction', txid, true).catch((e: unknown) => String(e))) : '';
          throw new Error(`${String(error)} ${detail.slice(0, 2000)}`, { cause: error });
        }
      };

      /** As an operator: settle every broadcast under vetting by its comment on the node. */
      const settleVetting = async () => {
        const vetting = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['vetting']));
        if (vetting.length === 0) return;
        const sends = await nodeSendsOf(hot);
        for (const broadcast of vetting) {
          const found = [...sends.entries()].find(([, send]) => send.comment === broadcast.comment);
          try {
            if (found) {
              // The service vets only once no send can still arrive; a send found later contradicts that.
              anomalies.push(`broadcast ${broadcast.id} was put under vetting, but the node has its send ${found[0]}`);
              const fee = -units(((await node.walletRpc(hot, 'gettransaction', found[0])) as { fee: JsonNumber }).fee);
              await resolveBroadcast(ltc, 'main', broadcast.id, { sent: { txid: found[0], fee } });
            } else {
              await resolveBroadcast(ltc, 'main', broadcast.id, { notSent: true }, settled);
              count('vetting resolved as not sent');
            }
          } catch (error) {
            if (error instanceof InvalidState) count('vetting not yet resolvable');
            else throw error;
          }
        }
      };

      /** A ledger write of the application; a conflict it gave up on wrote nothing. */
      const attempt = async <T>(what: string, write: () => Promise<T>): Promise<T | undefined> => {
        try {
          return await write();
        } catch (error) {
          if (
            error instanceof CryptoAssetsError &&
            ['cannot_resolve_database_conflict', 'insufficient_balance', 'invalid_state'].includes(error.code)
          ) {
            count(`${what} refused: ${error.code}`);
            return undefined;
          }
          throw error;
        }
      };

      const queueWithdrawals = async () => {
        // Every random choice first, so that a seed replays the same choices.
        const plan = Array.from({ length: between(1, 3) }, () => ({
          amount: BigInt(between(100_000, 3_000_000)),
          from: random() < 0.5 ? house.id : users[between(0, USERS - 1)]!.id,
        }));
        const wanted = [];
        for (const one of plan) wanted.push({ ...one, destination: await node.minerNewAddress() });
        for (const one of wanted) {
          const withdrawal = await attempt('withdrawal', () =>
            ltc.transaction(async (book) => (await book.wallet('main')).withdraw(one.from, one.destination, one.amount)),
          );
          if (withdrawal) queued.push({ id: withdrawal.id, destination: one.destination, amount: one.amount, cancelled: false });
        }
      };

      const leftOpen = new Set<number>();
      const killService = async () => {
        if (service) {
          await service.kill();
          outputs.push(service.output());
          service = undefined;
          const open = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened']));
          for (const broadcast of open.filter((b) => !leftOpen.has(b.id))) {
            leftOpen.add(broadcast.id);
            count('kill left a broadcast open');
          }
        }
        if (random() < 0.7) service = startServiceProcess(configPath, env);
      };

      const actions: [number, string, () => Promise<void>][] = [
        [
          6,
          'pay',
          async () => {
            const targets = [...new Set(Array.from({ length: random() < 0.3 ? between(2, 3) : 1 }, () => pick(addresses)))];
            const outputs = targets.map((address) => ({ address, amount: BigInt(between(100_000, 5_000_000)) }));
            const txid = (await node.walletRpc(
              payer,
              'sendmany',
              '',
              Object.fromEntries(outputs.map((o) => [o.address, coins(o.amount)])),
            )) as string;
            payments.push({ txid, outputs });
          },
        ],
        [
          1,
          'new address',
          async () => {
            addresses.push((await ltc.createReceivingAddress('main', pick(users))).address);
          },
        ],
        [6, 'queue withdrawals', queueWithdrawals],
        [
          1,
          'cancel a queued withdrawal',
          async () => {
            const candidates = queued.filter((q) => !q.cancelled);
            if (candidates.length === 0) return;
            const target = pick(candidates.slice(-5));
            const cancelled = await attempt('cancel', () =>
              ltc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(target.id)),
            );
            if (cancelled) target.cancelled = true;
          },
        ],
        [
          4,
          'mine',
          async () => {
            await mine(between(1, 2));
          },
        ],
        [
          2,
          'reorganise',
          async () => {
            const height = await node.height();
            const depth = between(1, 4);
            const block = (await node.rpc('getblockhash', height - depth + 1)) as string;
            await node.rpc('invalidateblock', block);
            await node.settle();
            // To a fresh address: a block mined the same second from the same template would be
            // the invalidated block again, which the node refuses.
            await node.rpc('generatetoaddress', depth + 1, await node.minerNewAddress());
            await node.settle();
            await rebroadcast();
          },
        ],
        [2, 'kill the service', killService],
        [
          2,
          'queue withdrawals, kill the service while it may be sending them',
          async () => {
            await queueWithdrawals();
            // Kill within moments of a broadcast being opened: before, while or after the node sends it.
            const delay = between(0, 80);
            const openedAt = performance.now();
            while (performance.now() - openedAt < 3_000) {
              const open = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['opened']));
              if (open.length > 0) break;
              await sleep(5);
            }
            await sleep(delay);
            await killService();
          },
        ],
        [
          1,
          'start the service',
          async () => {
            service ??= startServiceProcess(configPath, env);
          },
        ],
        [2, 'operator settles vetting', settleVetting],
      ];
      const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0);

      const fail = (error: unknown): never => {
        const tail = [...outputs, service?.output() ?? ''].join('').split('\n').slice(-40).join('\n');
        console.error(`chaos failed: CHAOS_SEED=${SEED}; actions ${JSON.stringify(counts)}\nservice output (last lines):\n${tail}`);
        throw new Error(`CHAOS_SEED=${SEED}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      };

      try {
        // The faulty period.
        const end = performance.now() + DURATION_S * 1000;
        while (performance.now() < end) {
          let roll = random() * totalWeight;
          const [, name, run] = actions.find(([weight]) => (roll -= weight) < 0)!;
          count(name);
          await run();
          await sleep(between(20, 400));
        }

        // Settling: the service runs, no more faults; blocks until everything is out and confirmed.
        service ??= startServiceProcess(configPath, env);
        await waitUntil(
          async () => {
            await settleVetting();
            const refused = await ltc.read(async (book) => (await book.wallet('main')).refusedWithdrawals());
            for (const withdrawal of refused) {
              anomalies.push(`withdrawal ${withdrawal.id} refused: ${withdrawal.refusal}`);
              await attempt('retry', () => ltc.transaction(async (book) => (await book.wallet('main')).retryWithdrawal(withdrawal.id)));
            }
            const open = await ltc.read(async (book) => {
              const main = await book.wallet('main');
              return (await main.pendingWithdrawals()).length + (await main.listBroadcasts(['opened', 'vetting'])).length;
            });
            if (open > 0) await mine(1);
            return open === 0;
          },
          120_000,
          'the queue to empty and every broadcast to settle',
        );
        await rebroadcast();
        await mine(THRESHOLD + 1);
        const tip = (await node.rpc('getbestblockhash')) as string;
        await waitUntil(
          async () => {
            const register = await ltc.read((book) => book.readingRegister());
            const tracked = await ltc.read((book) => book.trackedTransactions());
            return register.cursor?.hash === tip && tracked.every((t) => t.confirmations >= THRESHOLD);
          },
          60_000,
          'the ledger to read the final tip',
        );
        await service.stop();
        outputs.push(service.output());
        service = undefined;

        await audit(payments, queued, anomalies);
        const broadcasts = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed', 'returned']));
        const states = broadcasts.reduce<Record<string, number>>((all, b) => ({ ...all, [b.state]: (all[b.state] ?? 0) + 1 }), {});
        console.info(
          `chaos: CHAOS_SEED=${SEED}: ${payments.length} payments, ${queued.length} withdrawals, broadcasts ${JSON.stringify(states)}; actions ${JSON.stringify(counts)}`,
        );
      } catch (error) {
        fail(error);
      } finally {
        await service?.kill();
      }
    },
  );

  /**
   * What the auditor compares, with everything confirmed at least `THRESHOLD` deep, the queue
   * empty, no broadcast open or under vetting, no double spend ever made:
   *
   * 1. Withdrawals: the node wallet's sends are exactly the ledger's closed broadcasts (one send
   *    per broadcast comment, same txid), each paying exactly that broadcast's withdrawals; every
   *    withdrawal the application queued was paid, once, unless it was cancelled (then never);
   *    each destination, fresh per withdrawal, received exactly its amount.
   * 2. Deposits: every payment to our addresses is confirmed, and credited once as one deposit per
   *    (transaction, address) of its amount; the ledger has no other deposit.
   * 3. `verifyLedger()` holds.
   * 4. The node wallet's balance equals Σ walletBalance. The node holds: the 20 LTC funding +
   *    Σ deposits − Σ sent outputs − Σ fees of its sends (nothing unconfirmed, immature or
   *    conflicted, checked). walletBalance is imports (the funding, booked when the wallet held
   *    exactly that) + credited deposits (= Σ deposits, by 2) − withdrawals that left (= Σ sent
   *    outputs, by 1) − fees (each closed broadcast's fee is the node's fee of its send). So they
   *    must be equal; a difference is money booked twice, or missed.
   */
  async function audit(payments: readonly Payment[], queued: readonly Queued[], anomalies: readonly string[]): Promise<void> {
    const ltc = app.coin('ltc');
    expect(anomalies).toEqual([]);

    // 1. Withdrawals.
    const rows = await app.database.transaction('read', (tx) =>
      tx.all<{ id: bigint; state: string; amount: bigint; address: string; broadcast: bigint | null }>(
        `SELECT t.id, t.state, t.amount, a.address, t.network_transaction_id AS broadcast
         FROM ltc_transaction t JOIN ltc_address a ON a.id = t.address_id WHERE t.type = 'withdrawal' ORDER BY t.id`,
      ),
    );
    const ledgerWithdrawals = new Map(rows.map((row) => [Number(row.id), row]));
    expect([...ledgerWithdrawals.keys()]).toEqual(queued.map((q) => q.id));
    const closed = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
    const sends = await nodeSendsOf(hot);
    expect([...sends.keys()].sort()).toEqual(closed.map((b) => b.txid!).sort());
    for (const broadcast of closed) {
      const send = sends.get(broadcast.txid!)!;
      expect(send.comment, `broadcast ${broadcast.id}`).toBe(broadcast.comment);
      expect(send.confirmations).toBeGreaterThanOrEqual(THRESHOLD);
      const paid = rows.filter((row) => row.broadcast !== null && Number(row.broadcast) === broadcast.id);
      expect(new Map(paid.map((row) => [row.address, row.amount]))).toEqual(send.outputs);
    }
    for (const q of queued) {
      const row = ledgerWithdrawals.get(q.id)!;
      expect(row.state, `withdrawal ${q.id}`).toBe(q.cancelled ? 'cancelled' : 'broadcasted');
      const received = units((await node.walletRpc(node.minerWallet, 'getreceivedbyaddress', q.destination, 1)) as JsonNumber);
      expect(received, `withdrawal ${q.id} to ${q.destination}`).toBe(q.cancelled ? 0n : q.amount);
    }

    // 2. Deposits.
    const deposits = await ltc.read(async (book) => (await book.wallet('main')).deposits());
    const expected = payments.flatMap((p) => p.outputs.map((o) => `${p.txid}:${o.address}:${o.amount}:credited`)).sort();
    expect(deposits.map((d) => `${d.txid}:${d.address}:${d.amount}:${d.state}`).sort()).toEqual(expected);
    for (const payment of payments) {
      const onNode = (await node.walletRpc(hot, 'gettransaction', payment.txid)) as { confirmations: JsonNumber };
      expect(onNode.confirmations.toNumber(), payment.txid).toBeGreaterThanOrEqual(THRESHOLD);
    }

    // 3. and 4.
    const check = await app.verifyLedger();
    expect(check.problems).toEqual([]);
    const walletBalance = check.coins[0]!.wallets.reduce((sum, wallet) => sum + wallet.walletBalance, 0n);
    const balances = (await node.walletRpc(hot, 'getbalances')) as {
      mine: { trusted: JsonNumber; untrusted_pending: JsonNumber; immature: JsonNumber };
    };
    expect(units(balances.mine.untrusted_pending)).toBe(0n);
    expect(units(balances.mine.immature)).toBe(0n);
    expect(units(balances.mine.trusted)).toBe(walletBalance);
  }

  /** The node wallet's sends by txid: comment, outputs (address → amount), confirmations. */
  async function nodeSendsOf(wallet: string) {
    const listed = (await node.walletRpc(wallet, 'listtransactions', '*', 100_000, 0)) as {
      category: string;
      txid: string;
      address: string;
      amount: JsonNumber;
      comment?: string;
      confirmations: JsonNumber;
    }[];
    const sends = new Map<string, { comment: string | undefined; outputs: Map<string, bigint>; confirmations: number }>();
    for (const entry of listed) {
      if (entry.category !== 'send') continue;
      const send = sends.get(entry.txid) ?? {
        comment: entry.comment,
        outputs: new Map<string, bigint>(),
        confirmations: entry.confirmations.toNumber(),
      };
      send.outputs.set(entry.address, (send.outputs.get(entry.address) ?? 0n) - units(entry.amount));
      sends.set(entry.txid, send);
    }
    return sends;
  }
});
