/**
 * Nothing sent twice: the helper service process, broadcasting to a real Litecoin node, is killed
 * with SIGKILL at random moments while withdrawals are queued in rounds, and restarted each time.
 * Broadcasts a kill left in doubt are reconciled by the service or, when the node never saw them,
 * settled the way an operator would (`resolve-broadcast --not-sent`, which re-checks the node).
 * In the end every withdrawal was paid exactly once on chain.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import type { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { loadConfigFile } from '../../src/config/load.js';
import { parseAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { resolveBroadcast } from '../../src/service/broadcast-reconciler.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { describeWithNode, RegtestNode, waitUntil } from '../helpers/regtest.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROUNDS = 8;
const PER_ROUND = 8;

describeWithNode()('the service killed with SIGKILL while broadcasting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-crash-'));
  const configPath = join(dir, 'cryptoassets.yaml');
  let node: RegtestNode;
  let app: CryptoAssets;
  let wallet: string;

  beforeAll(async () => {
    node = await RegtestNode.start();
    wallet = await node.createWallet('hot');
    writeFileSync(
      configPath,
      `database:
  url: "sqlite:${join(dir, 'ledger.sqlite')}"
coins:
  ltc:
    network: regtest
    backend: {type: bitcoind, url: "${node.url}", username: "${node.username}", password: "\${LTC_PASSWORD}", wallet: "${wallet}"}
status_server: {enabled: false}
service: {broadcast_period: 0.05, poll_period: 0.2, log_level: silent}
`,
    );
    process.env.LTC_PASSWORD = node.password;
    app = await openFromConfig(await loadConfigFile(configPath, process.env), { migrate: true });
    // Coins in the hot wallet, imported onto the house account.
    const hotAddress = (await node.walletRpc(wallet, 'getnewaddress')) as string;
    await node.fund(hotAddress, '20');
    await node.mine(LTC.confirmationThreshold);
    const house = await app.coin('ltc').transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('house'));
    expect((await app.coin('ltc').importBalance('main', house)).imported).toBe(2_000_000_000n);
  });

  afterAll(async () => {
    await app?.close();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function runService(): ChildProcess {
    return spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', '-c', configPath], {
      stdio: 'ignore',
      env: { ...process.env, LTC_PASSWORD: node.password },
    });
  }

  async function killed(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  it('pays every withdrawal exactly once', async () => {
    const ltc = app.coin('ltc');
    const expected = new Map<string, bigint>();
    const observed: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await ltc.transaction(async (book) => {
        const main = await book.wallet('main');
        for (let i = 0; i < PER_ROUND; i++) {
          const destination = await node.minerNewAddress();
          const amount = BigInt(1_000_000 + round * 1_000 + i);
          await main.withdraw(await main.getAccount('house'), destination, amount);
          expected.set(destination, amount);
        }
      });
      const child = runService();
      // Kill at a random moment: before, during or after the broadcast of this round.
      await new Promise((resolve) => setTimeout(resolve, 1_200 + Math.floor(Math.random() * 1_500)));
      await killed(child);
      const states = await ltc.read(async (book) => {
        const main = await book.wallet('main');
        const broadcasts = await main.listBroadcasts(['opened', 'vetting', 'closed']);
        return { pending: (await main.pendingWithdrawals()).length, broadcasts: broadcasts.map((b) => b.state) };
      });
      observed.push(`round ${round}: ${states.pending} pending, broadcasts ${states.broadcasts.join(',') || 'none'}`);
    }
    console.info(observed.join('\n'));

    // The last start runs until everything is out; what it cannot settle, a person settles.
    const final = runService();
    try {
      await waitUntil(
        async () => {
          const { waiting, unsettled } = await ltc.read(async (book) => {
            const main = await book.wallet('main');
            return { waiting: (await main.pendingWithdrawals()).length, unsettled: await main.listBroadcasts(['opened', 'vetting']) };
          });
          for (const broadcast of unsettled.filter((b) => b.state === 'vetting')) {
            await resolveBroadcast(ltc, 'main', broadcast.id, { notSent: true });
          }
          return waiting === 0 && unsettled.length === 0;
        },
        60_000,
        'every withdrawal to be broadcast',
      );
    } finally {
      await killed(final);
    }

    const withdrawals = await ltc.read(async (book) => {
      const main = await book.wallet('main');
      const closed = await main.listBroadcasts(['closed']);
      const all = [];
      for (const broadcast of closed) {
        const listed = (await node.walletRpc(wallet, 'gettransaction', broadcast.txid)) as { details: { category: string }[] };
        all.push(listed.details.filter((d) => d.category === 'send').length);
      }
      return all;
    });
    expect(withdrawals.reduce((sum, n) => sum + n, 0)).toBe(ROUNDS * PER_ROUND);
    for (const [destination, amount] of expected) {
      const received = (await node.walletRpc(node.minerWallet, 'getreceivedbyaddress', destination, 0)) as JsonNumber;
      expect(parseAmount(received.text, LTC, { allowZero: true }), destination).toBe(amount);
    }
    await expectLedgerConsistent(app);
  });
});
