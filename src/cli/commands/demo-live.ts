/**
 * `cryptoassets demo --live`: the tour against a real Litecoin Core node in regtest that the demo
 * starts itself, with the real helper service: the node notifies the service over HTTP, the
 * service credits the deposit at the threshold and sends queued withdrawals as one `sendmany`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CryptoAssets } from '../../app.js';
import type { JsonNumber } from '../../backends/bitcoind/lossless-json.js';
import { parseConfig } from '../../config/load.js';
import { formatAmount, parseAmount } from '../../domain/amounts.js';
import { LTC } from '../../domain/coins.js';
import { freePort, RegtestNode, stopAllRegtestNodes, waitUntil } from '../../devtools/regtest-node.js';
import { sequenceEvents } from '../../events/event-store.js';
import type { LedgerLog } from '../../ledger/coin-ledger.js';
import { openFromConfig } from '../../open-from-config.js';
import { HelperService } from '../../service/helper-service.js';
import type { CliIo } from '../program.js';

const WALLET = 'demo';
const QUIET: LedgerLog = { info() {}, warn() {}, error() {} };

/** Whether curl exists: the node's walletnotify line uses it to call the service. */
function curlAvailable(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The tour. When `signal` is aborted (the command got SIGINT or SIGTERM), everything it started is
 * torn down at once — the service stopped, the ledger closed, the node killed, every temporary file
 * removed — and the returned promise rejects soon after with the abort reason.
 */
export async function liveTour(io: CliIo, signal?: AbortSignal): Promise<void> {
  const say = (text: string) => {
    if (!signal?.aborted) io.out(`${text}\n`);
  };
  const ltc = (units: bigint) => `${formatAmount(units, LTC)} LTC`;
  const step = (n: number, title: string) => say(`\n${n}. ${title}`);
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-live-demo-'));
  const notifyPort = await freePort();
  const notify = curlAvailable();
  let node: RegtestNode | undefined;
  let app: CryptoAssets | undefined;
  let service: HelperService | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await service?.stop().catch(() => undefined);
      await app?.close().catch(() => undefined);
      // A signal may come while the node is still starting, before `node` is set.
      await (signal?.aborted ? stopAllRegtestNodes() : node?.stop())?.catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());
  const onAbort = () => void cleanUp();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    say('cryptoassets live demo: Litecoin Core in regtest, the helper service, a ledger on SQLite');
    node = await RegtestNode.start({
      ...(notify ? { walletnotify: `curl --silent --max-time 5 --data txid=%s http://127.0.0.1:${notifyPort}/` } : {}),
      ...(signal ? { signal } : {}),
    });
    signal?.throwIfAborted();
    const wallet = await node.createWallet('hot');
    say(`   node: ${node.url} (datadir ${node.datadir}), hot wallet "${wallet}", height ${await node.height()}`);
    const config = parseConfig({
      database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
      coins: {
        ltc: {
          network: 'regtest',
          backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet },
          ...(notify ? { walletnotify: { type: 'http', port: notifyPort } } : {}),
        },
      },
      status_server: { enabled: false },
      service: { broadcast_period: 1, poll_period: 0.5, log_level: 'silent' },
    });
    app = await openFromConfig(config, { migrate: true });
    if (signal?.aborted) await app.close();
    signal?.throwIfAborted();
    service = new HelperService(app, config, QUIET);
    await service.start();
    signal?.throwIfAborted();
    const ledger = app.coin('ltc');
    await waitUntil(async () => (await service!.status()).coins[0]!.startupRescanDone, 30_000, 'the service to start');
    say(
      `   helper service running${notify ? `, walletnotify over HTTP on 127.0.0.1:${notifyPort}` : ' (no curl: deposits found by scanning)'}`,
    );

    step(1, 'Accounts and a receiving address made by the node');
    const { alice, bob } = await ledger.transaction(async (book) => {
      const demo = await book.getOrCreateWallet(WALLET);
      return { alice: await demo.getOrCreateAccount('alice'), bob: await demo.getOrCreateAccount('bob') };
    });
    const address = await ledger.createReceivingAddress(WALLET, alice, { label: 'alice' });
    say(`   alice's address ${address.address}`);

    step(2, 'Someone pays 1.5 LTC to it');
    const txid = await node.fund(address.address, '1.5');
    if (!notify) await ledger.scanReceived();
    await waitUntil(async () => (await depositState(app!)) !== undefined, 20_000, 'the deposit to be seen');
    say(`   txid ${txid}`);
    say(
      `   ${notify ? 'the node notified the service;' : 'found by a scan;'} deposit ${await depositState(app)} at 0 confirmations, balance ${ltc(await balance(app, 'alice'))}`,
    );

    step(3, `Blocks are mined; the service credits the deposit at ${LTC.confirmationThreshold} confirmations, once`);
    for (let block = 1; block <= LTC.confirmationThreshold; block++) {
      await node.mine(1);
      if (block === LTC.confirmationThreshold) {
        await waitUntil(async () => (await balance(app!, 'alice')) === 150_000_000n, 20_000, 'crediting');
      } else {
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
      say(`   block ${block}: deposit ${await depositState(app)}, alice ${ltc(await balance(app, 'alice'))}`);
    }

    step(4, 'alice gives bob 0.25 LTC, off-chain');
    await ledger.transaction(async (book) => (await book.wallet(WALLET)).transfer(alice, bob, '0.25', 'lunch'));

    step(5, 'Three withdrawals are queued; the service sends them as one sendmany');
    await ledger.transaction(async (book) => {
      const demo = await book.wallet(WALLET);
      await demo.withdraw(alice, await node!.minerNewAddress(), '0.1', 'alice pays a shop');
      await demo.withdraw(alice, await node!.minerNewAddress(), '0.2', 'alice pays rent');
      await demo.withdraw(bob, await node!.minerNewAddress(), '0.05', 'bob pays a friend');
    });
    const broadcast = await waitFor(async () => {
      const closed = await ledger.read(async (book) => (await book.wallet(WALLET)).listBroadcasts(['closed']));
      return closed[0];
    });
    const onNode = (await node.walletRpc(wallet, 'gettransaction', broadcast.txid)) as { details: { category: string }[]; fee: JsonNumber };
    say(`   one transaction ${broadcast.txid}`);
    say(
      `   the node lists ${onNode.details.filter((d) => d.category === 'send').length} payments in it and a fee of ${ltc(-parseAmount(onNode.fee.text, LTC, { allowNegative: true }))}`,
    );
    say(`   the ledger charged that fee once, to "Network fees": ${ltc(broadcast.fee ?? 0n)}`);

    step(6, 'Balances and the checks');
    const accounts = await ledger.read(async (book) => (await book.wallet(WALLET)).listAccounts());
    for (const account of accounts) say(`   ${account.name.padEnd(14)} ${ltc(account.balance).padStart(16)}`);
    const check = await app.verifyLedger();
    say(`   ledger check: ${check.ok ? 'consistent' : `PROBLEMS: ${check.problems.join('; ')}`}`);
    const nodeBalance = (await node.walletRpc(wallet, 'getbalances')) as { mine: { trusted: JsonNumber; untrusted_pending: JsonNumber } };
    const held =
      parseAmount(nodeBalance.mine.trusted.text, LTC, { allowZero: true }) +
      parseAmount(nodeBalance.mine.untrusted_pending.text, LTC, { allowZero: true });
    const accountsTotal = check.coins[0]!.wallets[0]!.accountsTotal;
    say(`   node wallet holds ${ltc(held)}; accounts hold ${ltc(accountsTotal)}: ${held === accountsTotal ? 'they agree' : 'they DIFFER'}`);
    await sequenceEvents(app.database);
    const events = await app.events.after(0n, 1000);
    say(`   ${events.length} txupdate events written with these changes (cryptoassets events -c … prints them)`);
    if (!check.ok || held !== accountsTotal) throw new Error('the live demo found the books out of balance');
    say('\nDone. The node and the temporary files are removed now.');
  } catch (error) {
    // Whatever failed after an abort failed because of it.
    signal?.throwIfAborted();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await cleanUp();
  }
}

async function depositState(app: CryptoAssets): Promise<string | undefined> {
  const deposits = await app.coin('ltc').read(async (book) => (await book.wallet(WALLET)).deposits());
  return deposits[0]?.state;
}

async function balance(app: CryptoAssets, name: string): Promise<bigint> {
  return app.coin('ltc').read(async (book) => (await (await book.wallet(WALLET)).getAccount(name)).balance);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  let value: T | undefined;
  await waitUntil(async () => (value = await probe()) !== undefined, timeoutMs, 'the broadcast');
  return value!;
}
