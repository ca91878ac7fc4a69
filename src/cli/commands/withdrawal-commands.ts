/**
 * Operator commands on withdrawals that have not left: `retry-withdrawal` (a refused one back to
 * the queue) and `cancel-withdrawal` (a pending or refused one, refunded by a new entry).
 */
import { formatAmount } from '../../domain/amounts.js';
import type { Transaction } from '../../ledger/records.js';
import { parseIdArgument } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

interface WithdrawalOptions {
  readonly config?: string;
  readonly coin: string;
  readonly wallet: string;
  readonly id: string;
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
    const id = parseIdArgument(`${action}-withdrawal`, 'withdrawal', options.id);
    const ledger = app.coin(options.coin);
    const withdrawal = await ledger.transaction(async (book) => {
      const wallet = await book.wallet(options.wallet);
      return action === 'retry' ? wallet.retryWithdrawal(id) : wallet.cancelWithdrawal(id);
    });
    io.out(
      options.json
        ? `${JSON.stringify(describe(withdrawal, ledger.context.coin))}\n`
        : `${sentence(withdrawal, action, ledger.context.coin)}\n`,
    );
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
