/**
 * `cryptoassets demo`: a narrated tour of the ledger on SQLite and the in-memory chain (or, with
 * `--backend blockio-fake`, the block.io backend against a fake block.io on 127.0.0.1). Every
 * step is a real library call; the numbers printed are read back from the database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptoAssets } from '../../app.js';
import { formatAmount } from '../../domain/amounts.js';
import type { CoinLedger } from '../../ledger/coin-ledger.js';
import { LITECOIND_PATH, litecoindAvailable } from '../../devtools/regtest-node.js';
import { EXIT } from '../exit-codes.js';
import { liveTour } from './demo-live.js';
import { DEMO_BACKENDS, openWorld, type DemoBackend } from './demo-world.js';
import type { CliIo } from '../program.js';
import { reportError } from '../program.js';

const WALLET = 'demo';

/** Exit codes after a signal, as shells report them: 128 + the signal's number. */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/** How long the tear-down after a signal may take before the process exits anyway. */
const SIGNAL_CLEANUP_MS = 20_000;

export async function demoCommand(io: CliIo, options: { database?: string; live?: boolean; backend?: string }): Promise<number> {
  const kind = options.backend ?? 'memory';
  if (!(DEMO_BACKENDS as readonly string[]).includes(kind) || (options.live && kind !== 'memory')) {
    io.err(`cryptoassets: demo --backend must be one of ${DEMO_BACKENDS.join(', ')} (and memory with --live)\n`);
    return EXIT.usage;
  }
  if (options.live) {
    if (!litecoindAvailable()) {
      io.err(`cryptoassets: demo --live needs Litecoin Core (litecoind at ${LITECOIND_PATH}; apt-get install litecoind)\n`);
      return EXIT.unavailable;
    }
    // Ctrl-C or SIGTERM must not leave the node running and its files behind: the tour tears
    // everything down when aborted, and the command ends with 128 + the signal number.
    const abort = new AbortController();
    let received: 'SIGINT' | 'SIGTERM' | undefined;
    const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
      // A second signal: the operator does not want to wait for the tear-down.
      if (received) process.exit(SIGNAL_EXIT[received]);
      received = signal;
      abort.abort(new Error(`stopped by ${signal}`));
      // Unreferenced: it ends a process that something left pending would keep alive, nothing else.
      setTimeout(() => process.exit(SIGNAL_EXIT[signal]), SIGNAL_CLEANUP_MS).unref();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await liveTour(io, abort.signal);
      return EXIT.ok;
    } catch (error) {
      if (!received) return reportError(io, error);
      io.err(`cryptoassets: demo --live stopped by ${received}; its node was stopped and its temporary files removed\n`);
      return SIGNAL_EXIT[received];
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  const temporary = options.database ? undefined : mkdtempSync(join(tmpdir(), 'cryptoassets-demo-'));
  const path = options.database ?? join(temporary!, 'demo.sqlite');
  try {
    await tour(io, path, kind as DemoBackend);
    return EXIT.ok;
  } catch (error) {
    return reportError(io, error);
  } finally {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  }
}

async function tour(io: CliIo, path: string, kind: DemoBackend): Promise<void> {
  const say = (text: string) => io.out(`${text}\n`);
  const step = (n: number, title: string) => say(`\n${n}. ${title}`);

  const chain = await openWorld(kind);
  const { coin, network, backend } = chain;
  const unit = coin.code.toUpperCase();
  const btc = (units: bigint) => `${formatAmount(units, coin)} ${unit}`;
  say(`cryptoassets demo: ${chain.title}, ledger on SQLite`);
  say(`   database: ${path}`);
  let app: CryptoAssets | undefined;
  try {
    app = await CryptoAssets.open({ database: { kind: 'sqlite', path }, coins: [{ coin, network, backend }], migrate: true });
    const ledger = app.coin(coin.code);

    step(1, 'A wallet with two customer accounts');
    const { alice, bob } = await ledger.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet(WALLET);
      return { alice: await wallet.getOrCreateAccount('alice'), bob: await wallet.getOrCreateAccount('bob') };
    });
    say(`   wallet "${WALLET}": accounts alice (#${alice.id}) and bob (#${bob.id})`);

    step(2, 'A receiving address for alice, made by the backend');
    const deposit = await ledger.createReceivingAddress(WALLET, alice, { label: 'alice main' });
    say(`   ${deposit.address} (label "${deposit.label}")`);

    step(3, `Someone pays 0.5 ${unit} to it; ${chain.hearing}`);
    const txid = chain.pay(deposit.address, 50_000_000n);
    const heard = await chain.catchUp(ledger);
    if (heard) say(`   ${heard}`);
    await showDeposit(io, ledger, alice.id, btc);
    say(`   txid ${txid}: seen at 0 confirmations, not credited yet`);

    step(4, `Blocks are mined; the deposit is credited at ${coin.confirmationThreshold} confirmations, exactly once`);
    for (let block = 1; block <= coin.confirmationThreshold + 1; block++) {
      chain.mine(1);
      const news = await chain.catchUp(ledger);
      say(`   block ${block}: ${await depositLine(ledger, alice.id, btc)}${news ? ` (${news})` : ''}`);
    }

    step(5, `alice moves 0.1 ${unit} to bob, off-chain and instantly`);
    await ledger.transaction(async (book) => (await book.wallet(WALLET)).transfer(alice, bob, '0.1', 'dinner'));
    await showBalances(io, ledger, btc);

    step(6, 'Three withdrawals are queued: debited at once, sent later in one batch');
    const outside = [chain.externalAddress(), chain.externalAddress()];
    await ledger.transaction(async (book) => {
      const wallet = await book.wallet(WALLET);
      await wallet.withdraw(bob, outside[0]!, '0.02', 'bob to his other wallet', { idempotencyKey: 'bob-payout-1' });
      await wallet.withdraw(bob, outside[1]!, '0.03', 'bob pays a shop');
      await wallet.withdraw(alice, outside[0]!, '0.05', 'alice pays bob elsewhere');
    });
    const pending = await ledger.read(async (book) => (await book.wallet(WALLET)).pendingWithdrawals());
    for (const withdrawal of pending) say(`   pending #${withdrawal.id}: ${btc(withdrawal.amount)} to ${withdrawal.address}`);
    const retried = await ledger.transaction(async (book) =>
      (await book.wallet(WALLET)).withdraw(bob, outside[0]!, '0.02', 'bob to his other wallet', { idempotencyKey: 'bob-payout-1' }),
    );
    say(`   the same request retried with idempotency key "bob-payout-1" returns #${retried.id} again: nothing sent twice`);

    step(7, 'The broadcaster sends the queue as one transaction and books its fee');
    const outcome = await ledger.broadcastPending(WALLET);
    if (outcome.status !== 'sent') throw new Error(`the demo broadcast did not go out: ${outcome.status}`);
    say(`   one transaction ${outcome.broadcast.txid} with ${outcome.withdrawals.length} withdrawals`);
    say(`   network fee ${btc(outcome.broadcast.fee ?? 0n)}, charged to the wallet's "Network fees" account`);

    step(8, 'Balances');
    await showBalances(io, ledger, btc);

    step(9, 'The ledger check');
    const check = await app.verifyLedger();
    const figures = check.coins[0]!.wallets[0]!;
    say(`   credited deposits ${btc(figures.creditedDeposits)} - withdrawals ${btc(figures.withdrawals)} - fees ${btc(figures.fees)}`);
    say(`   = accounts total ${btc(figures.accountsTotal)}: ${check.ok ? 'consistent' : `PROBLEMS: ${check.problems.join('; ')}`}`);
    if (!check.ok) throw new Error('the ledger check failed');
    say('\nDone. Next: `cryptoassets demo --live` runs the same against a real Litecoin node (regtest);');
    say('docs/api.md for the library, docs/configuration.md for your own setup.');
  } finally {
    await app?.close();
    await chain.close();
  }
}

async function depositLine(ledger: CoinLedger, accountId: number, btc: (units: bigint) => string): Promise<string> {
  return ledger.read(async (book) => {
    const wallet = await book.wallet(WALLET);
    const account = await wallet.getAccount(accountId);
    const unconfirmed = await wallet.unconfirmedBalance(accountId);
    return `balance ${btc(account.balance)}, on its way ${btc(unconfirmed)}`;
  });
}

async function showDeposit(io: CliIo, ledger: CoinLedger, accountId: number, btc: (units: bigint) => string): Promise<void> {
  io.out(`   alice: ${await depositLine(ledger, accountId, btc)}\n`);
}

async function showBalances(io: CliIo, ledger: CoinLedger, btc: (units: bigint) => string): Promise<void> {
  const accounts = await ledger.read(async (book) => (await book.wallet(WALLET)).listAccounts());
  for (const account of accounts) io.out(`   ${account.name.padEnd(14)} ${btc(account.balance).padStart(16)}\n`);
}
