/**
 * One-shot commands that talk to the coins' backends: `scan-received`, `import-balance`,
 * `resolve-broadcast`.
 */
import { SingleBar } from 'cli-progress';
import { formatAmount, parseAmount } from '../../domain/amounts.js';
import { checkTxid } from '../../ledger/deposits.js';
import { resolveBroadcast } from '../../service/broadcast-reconciler.js';
import { broadcastSettledCheck, leaseTtlMs, requestTimeoutMs } from '../../service/timings.js';
import { EXIT, parseIdArgument } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

/** Rescan every received transaction of each coin (or one), with progress on a terminal. */
export function scanReceivedCommand(io: CliIo, options: { config?: string; coin?: string }): Promise<number> {
  return withApp(io, options.config, {}, async (app) => {
    for (const code of options.coin ? [options.coin] : app.coinCodes) {
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: `${code} {value} transactions scanned`, stream: process.stderr })
        : undefined;
      bar?.start(0, 0);
      const result = await app.coin(code).scanReceived({ onPage: (scanned) => bar?.update(scanned) });
      bar?.stop();
      const credited = result.updates.filter((update) => update.change === 'credited').length;
      const created = result.updates.filter((update) => update.change === 'created').length;
      io.out(`${code}: ${result.transactions} transactions scanned, ${created} new deposits, ${credited} credited\n`);
    }
  });
}

/** Book the node's unaccounted balance onto an account. */
export function importBalanceCommand(
  io: CliIo,
  options: { config?: string; coin: string; wallet: string; account: string },
): Promise<number> {
  return withApp(io, options.config, {}, async (app) => {
    const ledger = app.coin(options.coin);
    const account = await ledger.transaction(async (book) =>
      (await book.getOrCreateWallet(options.wallet)).getOrCreateAccount(options.account),
    );
    const result = await ledger.importBalance(options.wallet, account);
    const coin = ledger.context.coin;
    io.out(
      result.imported > 0n
        ? `${options.coin}: imported ${formatAmount(result.imported, coin)} onto ${options.wallet}/${options.account}\n`
        : `${options.coin}: nothing unaccounted (node ${formatAmount(result.backendBalance, coin)}, ledger ${formatAmount(result.expectedBalance, coin)})\n`,
    );
  });
}

/** A person's verdict on a broadcast under vetting. */
export function resolveBroadcastCommand(
  io: CliIo,
  options: { config?: string; coin: string; wallet: string; id: string; sent?: string; fee?: string; notSent?: boolean },
): Promise<number> {
  if (Boolean(options.sent) === Boolean(options.notSent)) {
    io.err('cryptoassets: resolve-broadcast: give exactly one of --sent TXID (with --fee) or --not-sent\n');
    return Promise.resolve(EXIT.usage);
  }
  return withApp(io, options.config, {}, async (app, config) => {
    const id = parseIdArgument('resolve-broadcast', 'broadcast', options.id);
    const ledger = app.coin(options.coin);
    const verdict = options.sent
      ? { sent: { txid: checkTxid(options.sent), fee: parseAmount(options.fee ?? '', ledger.context.coin, { allowZero: true }) } }
      : ({ notSent: true } as const);
    // Refused while a service that held the lease could still be sending it (see service/timings.ts).
    const settled = broadcastSettledCheck(app.database, leaseTtlMs(config), requestTimeoutMs(config, options.coin));
    const broadcast = await resolveBroadcast(ledger, options.wallet, id, verdict, settled);
    io.out(
      `broadcast ${broadcast.id}: ${broadcast.state}${broadcast.txid ? ` as ${broadcast.txid}` : ', withdrawals back in the queue'}\n`,
    );
  });
}
