/**
 * `verify-ledger`: the ledger check, and with `--node` the balance audit of every coin's node
 * wallet against the books, as a report for people or as JSON.
 */
import type { CryptoAssets } from '../../app.js';
import { formatAmount } from '../../domain/amounts.js';
import type { NodeAudit } from '../../ledger/node-audit.js';
import type { CoinCheck, LedgerCheck } from '../../ledger/verify.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

/** Options of the command, as commander passes them. */
export interface VerifyLedgerCommandOptions {
  readonly config?: string;
  readonly node?: boolean;
  readonly json?: boolean;
  readonly failOnUnaccounted?: boolean;
}

/**
 * Run the check; resolves to the exit code (see `exitCodeOfCheck`). Without `--node` no backend
 * is created, so the books can be checked while the nodes are down.
 */
export async function verifyLedgerCommand(io: CliIo, options: VerifyLedgerCommandOptions): Promise<number> {
  const node = options.node === true;
  let verdict: number = EXIT.ok;
  const exitCode = await withApp(io, options.config, { backends: node }, async (app) => {
    const check = await app.verifyLedger({ node, unaccountedFails: options.failOnUnaccounted === true });
    io.out(options.json ? `${JSON.stringify(check, bigintsAsText, 2)}\n` : report(app, check));
    verdict = exitCodeOfCheck(check);
  });
  return exitCode === EXIT.ok ? verdict : exitCode;
}

/**
 * 0 when everything checked holds; 1 (`failed`) when the books do not hold, a node holds less than
 * they expect (or unaccounted money with `--fail-on-unaccounted`), or the books would not hold
 * still for a reading; otherwise 69 (`unavailable`) when a node could not be read. A problem
 * found outranks a node that could not be read.
 */
export function exitCodeOfCheck(check: LedgerCheck): number {
  if (check.ok) return EXIT.ok;
  const found =
    !check.booksOk || check.coins.some((coin) => coin.node !== undefined && !coin.node.ok && coin.node.status !== 'unreachable');
  return found ? EXIT.failed : EXIT.unavailable;
}

function bigintsAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function report(app: CryptoAssets, check: LedgerCheck): string {
  const lines: string[] = [];
  for (const coin of check.coins) {
    const amount = (units: bigint) => `${formatAmount(units, app.coin(coin.coin).context.coin)} ${coin.coin}`;
    lines.push(...coinLines(coin, amount));
  }
  for (const problem of check.problems) lines.push(`PROBLEM ${problem}`);
  lines.push(
    check.ok ? 'verify-ledger: ok' : `verify-ledger: FAILED (${check.problems.length} problem${check.problems.length === 1 ? '' : 's'})`,
  );
  return `${lines.join('\n')}\n`;
}

function coinLines(coin: CoinCheck, amount: (units: bigint) => string): string[] {
  const code = coin.coin;
  const wallets = coin.wallets.length;
  const bookProblems = coin.wallets.reduce((sum, wallet) => sum + wallet.problems.length, 0);
  const lines = [
    `${code}: books ${bookProblems === 0 ? 'hold' : `DO NOT HOLD (${bookProblems} problems)`} over ${wallets} wallet${wallets === 1 ? '' : 's'}`,
  ];
  if (coin.node) lines.push(...nodeLines(code, coin.node, amount));
  return lines;
}

function nodeLines(code: string, audit: NodeAudit, amount: (units: bigint) => string): string[] {
  if (audit.status !== 'checked') return [`${code}: node ${audit.status === 'no_backend' ? 'not audited' : 'NOT CHECKED'}: ${audit.error}`];
  const books = audit.ledger;
  const out = books.sentWithdrawals + books.conflictedWithdrawals + books.inDoubtWithdrawals;
  const signed = audit.difference > 0n ? `+${amount(audit.difference)}` : amount(audit.difference);
  return [
    `${code}: ledger expects ${amount(books.expected)} = credited ${amount(books.creditedDeposits)} + imported ${amount(books.imports)}` +
      ` - withdrawals out ${amount(out)} - fees ${amount(books.fees)}`,
    `${code}: node wallet holds ${amount(audit.nodeBalance)} (minconf ${audit.minConfirmations}): difference ${signed}`,
    ...audit.explanations.map((item) => `${code}:   ${item.kind.replaceAll('_', ' ')} ${amount(item.amount)}: ${item.text}`),
    `${code}: node audit ${audit.ok ? 'ok' : 'FAILED'}`,
  ];
}
