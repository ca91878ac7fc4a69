/**
 * Operator commands on withdrawals that have not left: `retry-withdrawal` (a refused one back to
 * the queue) and `cancel-withdrawal` (a pending or refused one, refunded by a new entry).
 */
import { formatAmount } from '../../domain/amounts.js';
import type { Transaction } from '../../ledger/records.js';
import { parseIdArgument, UsageError } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

interface WithdrawalOptions {
  readonly config?: string;
  readonly coin: string;
  readonly wallet: string;
  readonly id?: string;
  /** retry-withdrawal only: every refused withdrawal of the wallet. */
  readonly allRefused?: boolean;
  readonly json?: boolean;
}

/** Put a refused withdrawal back in the queue. */
export function retryWithdrawalCommand(io: CliIo, options: WithdrawalOptions): Promise<number> {
  return actOnWithdrawal(io, options, 'retry');
}

/** Cancel a pending or refused withdrawal, refunding its account. */
export function cancelWithdrawalCommand(io: CliIo, options: WithdrawalOptions): Promise<number> {
  return actOnWithdrawal(io, options, 'cancel');
}

function actOnWithdrawal(io: CliIo, options: WithdrawalOptions, action: 'retry' | 'cancel'): Promise<number> {
  return withApp(io, options.config, {}, async (app) => {
    const command = `${action}-withdrawal`;
    if ((options.id === undefined) === !options.allRefused) {
      throw new UsageError(`${command}: give exactly one of --id N${action === 'retry' ? ' or --all-refused' : ''}`);
    }
    const id = options.id === undefined ? undefined : parseIdArgument(command, 'withdrawal', options.id);
    const ledger = app.coin(options.coin);
    // All of them in one transaction: the queue gets every refused withdrawal back, or none.
    const withdrawals = await ledger.transaction(async (book) => {
      const wallet = await book.wallet(options.wallet);
      if (id === undefined) {
        const retried = [];
        for (const withdrawal of await wallet.refusedWithdrawals()) retried.push(await wallet.retryWithdrawal(withdrawal.id));
        return retried;
      }
      return [action === 'retry' ? await wallet.retryWithdrawal(id) : await wallet.cancelWithdrawal(id)];
    });
    if (options.json) {
      const described = withdrawals.map((withdrawal) => describe(withdrawal, ledger.context.coin));
      io.out(`${JSON.stringify(id === undefined ? described : described[0])}\n`);
      return;
    }
    if (withdrawals.length === 0) io.out(`no refused withdrawals in ${options.coin}/${options.wallet}\n`);
    for (const withdrawal of withdrawals) io.out(`${sentence(withdrawal, action, ledger.context.coin)}\n`);
  });
}

function describe(withdrawal: Transaction, coin: Parameters<typeof formatAmount>[1]) {
  return {
    id: withdrawal.id,
    state: withdrawal.state,
    amount: formatAmount(withdrawal.amount, coin),
    address: withdrawal.address,
    refusal: withdrawal.refusal,
  };
}

function sentence(withdrawal: Transaction, action: 'retry' | 'cancel', coin: Parameters<typeof formatAmount>[1]): string {
  const amount = formatAmount(withdrawal.amount, coin);
  return action === 'retry'
    ? `withdrawal ${withdrawal.id} (${amount} to ${withdrawal.address}) is back in the queue`
    : `withdrawal ${withdrawal.id} (${amount} to ${withdrawal.address}) cancelled; ${amount} refunded to its account`;
}
