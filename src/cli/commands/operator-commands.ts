/**
 * Operator commands that read or act on the books without a node: `balances`, `accounts`,
 * `history`, `withdrawals`, `freeze-account`, `unfreeze-account`, `export`. Amounts are printed in
 * coins as decimal text with all decimals; `--json` prints one JSON document (export: JSON lines).
 */
import type { CryptoAssets } from '../../app.js';
import { formatAmount } from '../../domain/amounts.js';
import type { CoinLedger } from '../../ledger/coin-ledger.js';
import type { Account, Entry, Transaction, TransactionState } from '../../ledger/records.js';
import type { TransactionFilter } from '../../ledger/queries.js';
import type { WalletBook } from '../../ledger/wallet-book.js';
import { coinTables } from '../../store/migrations.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../program.js';
import { withApp } from '../with-app.js';

interface Scope {
  readonly config?: string;
  readonly coin?: string;
  readonly wallet?: string;
  readonly json?: boolean;
}

/** Each configured coin (or the one named) with each of its wallets (or the one named). */
async function eachWallet<T>(
  app: CryptoAssets,
  scope: Scope,
  fn: (code: string, ledger: CoinLedger, wallet: WalletBook) => Promise<T[]>,
): Promise<T[]> {
  const result: T[] = [];
  for (const code of scope.coin ? [scope.coin] : app.coinCodes) {
    const ledger = app.coin(code);
    const rows = await ledger.read(async (book) => {
      const wallets = scope.wallet
        ? [await book.wallet(scope.wallet)]
        : await Promise.all((await book.listWallets()).map((w) => book.wallet(w.name)));
      const out: T[] = [];
      for (const wallet of wallets) out.push(...(await fn(code, ledger, wallet)));
      return out;
    });
    result.push(...rows);
  }
  return result;
}

function describeAccount(code: string, ledger: CoinLedger, wallet: WalletBook, account: Account) {
  return {
    coin: code,
    wallet: wallet.name,
    account: account.name,
    id: account.id,
    kind: account.kind,
    balance: formatAmount(account.balance, ledger.context.coin),
    frozen: account.frozenAt !== null,
    frozenAt: account.frozenAt?.toISOString() ?? null,
    createdAt: account.createdAt.toISOString(),
  };
}

/** `balances`: every account's balance, per coin and wallet, with each wallet's total. */
export function balancesCommand(io: CliIo, options: Scope): Promise<number> {
  return withApp(io, options.config, { backends: false }, async (app) => {
    const rows = await eachWallet(app, options, async (code, ledger, wallet) =>
      (await wallet.listAccounts()).map((account) => ({ ...describeAccount(code, ledger, wallet, account), units: account.balance })),
    );
    if (options.json) {
      io.out(
        `${JSON.stringify(
          rows.map(({ coin, wallet, account, balance, frozen }) => ({ coin, wallet, account, balance, frozen })),
          null,
          2,
        )}\n`,
      );
      return;
    }
    if (rows.length === 0) io.out('no accounts\n');
    for (const row of rows) io.out(`${row.coin}\t${row.wallet}\t${row.account}\t${row.balance}${row.frozen ? '\tFROZEN' : ''}\n`);
  });
}

/** `accounts`: the accounts with their ids, kinds, balances and freezes. */
export function accountsCommand(io: CliIo, options: Scope): Promise<number> {
  return withApp(io, options.config, { backends: false }, async (app) => {
    const rows = await eachWallet(app, options, async (code, ledger, wallet) =>
      (await wallet.listAccounts()).map((account) => describeAccount(code, ledger, wallet, account)),
    );
    if (options.json) {
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) io.out('no accounts\n');
    for (const row of rows) {
      io.out(
        `${row.coin}\t${row.wallet}\t${row.id}\t${row.account}\t${row.kind}\t${row.balance}\t${row.frozen ? `frozen since ${row.frozenAt}` : 'active'}\n`,
      );
    }
  });
}

interface HistoryOptions extends Scope {
  readonly coin: string;
  readonly wallet: string;
  readonly account: string;
  readonly csv?: boolean;
  readonly limit?: string;
  readonly before?: string;
}

/** `history`: a page of one account's journal, newest first. */
export function historyCommand(io: CliIo, options: HistoryOptions): Promise<number> {
  const limit = Number(options.limit ?? '100');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return usage(io, 'history: --limit must be 1..1000');
  if (options.before !== undefined && !/^[1-9]\d{0,15}$/.test(options.before)) return usage(io, 'history: --before must be an entry id');
  if (options.csv && options.json) return usage(io, 'history: give --csv or --json, not both');
  return withApp(io, options.config, { backends: false }, async (app) => {
    const ledger = app.coin(options.coin);
    const entries = await ledger.read(async (book) =>
      (await book.wallet(options.wallet)).accountHistory(options.account, {
        limit,
        ...(options.before ? { beforeId: Number(options.before) } : {}),
      }),
    );
    const rows = entries.map((entry: Entry) => ({
      id: entry.id,
      time: entry.createdAt.toISOString(),
      kind: entry.kind,
      amount: formatAmount(entry.amount, ledger.context.coin),
      transactionId: entry.transactionId,
      label: entry.label,
    }));
    const next = entries.length === limit ? String(entries.at(-1)!.id) : null;
    if (options.json) io.out(`${JSON.stringify({ entries: rows, next }, null, 2)}\n`);
    else if (options.csv) {
      io.out('id,time,kind,amount,transaction_id,label\n');
      for (const row of rows) io.out(`${csvLine([row.id, row.time, row.kind, row.amount, row.transactionId, row.label])}\n`);
    } else {
      if (rows.length === 0) io.out('no entries\n');
      for (const row of rows)
        io.out(
          `${row.id}\t${row.time}\t${row.kind}\t${row.amount}\ttransaction ${row.transactionId}${row.label ? `\t${row.label}` : ''}\n`,
        );
    }
    if (next !== null && !options.json) io.err(`more: --before ${next}\n`);
  });
}

interface WithdrawalsOptions extends Scope {
  readonly pending?: boolean;
  readonly refused?: boolean;
  readonly all?: boolean;
}

/** `withdrawals`: queued, being sent and refused withdrawals (or all), with amount, address, state, age, refusal. */
export function withdrawalsCommand(io: CliIo, options: WithdrawalsOptions): Promise<number> {
  if (options.all && (options.pending || options.refused)) return usage(io, 'withdrawals: --all lists every state; give it alone');
  const states: TransactionState[] | undefined = options.all
    ? undefined
    : options.pending || options.refused
      ? [...(options.pending ? (['pending'] as const) : []), ...(options.refused ? (['refused'] as const) : [])]
      : // By default every withdrawal that has not surely left: in a broadcast being sent, or one
        // whose outcome is unknown (vetting), it is `broadcasting` and still needs watching.
        ['pending', 'broadcasting', 'refused'];
  return withApp(io, options.config, { backends: false }, async (app) => {
    const now = Date.now();
    const rows = await eachWallet(app, options, async (code, ledger, wallet) => {
      const names = new Map((await wallet.listAccounts()).map((account) => [account.id, account.name]));
      const found = await everyTransaction(wallet, { type: 'withdrawal', ...(states ? { state: states } : {}) });
      return found.map((withdrawal) => describeWithdrawal(code, ledger, wallet, withdrawal, now, names));
    });
    if (options.json) {
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) io.out('no withdrawals\n');
    for (const row of rows) {
      io.out(
        `${row.coin}\t${row.wallet}\t${row.id}\t${row.state}\t${row.amount}\t${row.address}\t${row.account}\t${humanAge(row.ageSeconds)}${row.refusal ? `\t${row.refusal}` : ''}\n`,
      );
    }
  });
}

/** Every transaction matching `filter`, oldest first, read page by page (a page holds 1 000 at most). */
async function everyTransaction(wallet: WalletBook, filter: Omit<TransactionFilter, 'cursor' | 'limit'>): Promise<Transaction[]> {
  const found: Transaction[] = [];
  let cursor: string | null = null;
  do {
    const page = await wallet.listTransactions({ ...filter, limit: 1000, ...(cursor ? { cursor } : {}) });
    found.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return found.reverse();
}

function describeWithdrawal(
  code: string,
  ledger: CoinLedger,
  wallet: WalletBook,
  withdrawal: Transaction,
  now: number,
  names: Map<number, string>,
) {
  return {
    coin: code,
    wallet: wallet.name,
    id: withdrawal.id,
    state: withdrawal.state,
    amount: formatAmount(withdrawal.amount, ledger.context.coin),
    address: withdrawal.address,
    account: names.get(withdrawal.sendingAccountId!) ?? String(withdrawal.sendingAccountId),
    createdAt: withdrawal.createdAt.toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - withdrawal.createdAt.getTime()) / 1000)),
    refusal: withdrawal.refusal,
    txid: withdrawal.txid,
  };
}

function humanAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s old`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m old`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h old`;
  return `${Math.floor(seconds / 86_400)}d old`;
}

interface FreezeOptions extends Scope {
  readonly coin: string;
  readonly wallet: string;
  readonly account: string;
}

/** `freeze-account` / `unfreeze-account`. */
export function freezeCommand(io: CliIo, options: FreezeOptions, freeze: boolean): Promise<number> {
  return withApp(io, options.config, { backends: false }, async (app) => {
    const ledger = app.coin(options.coin);
    // Read in the freeze's own transaction: what it holds, and what had already left the queue.
    const { account, queued, inBroadcast } = await ledger.transaction(async (book) => {
      const wallet = await book.wallet(options.wallet);
      const changed = freeze ? await wallet.freezeAccount(options.account) : await wallet.unfreezeAccount(options.account);
      const withdrawals = async (state: 'pending' | 'broadcasting') =>
        (await everyTransaction(wallet, { account: changed.id, type: 'withdrawal', state })).map((w) => w.id);
      return { account: changed, queued: await withdrawals('pending'), inBroadcast: await withdrawals('broadcasting') };
    });
    if (options.json) {
      io.out(
        `${JSON.stringify({ coin: options.coin, wallet: options.wallet, account: account.name, id: account.id, frozen: account.frozenAt !== null, frozenAt: account.frozenAt?.toISOString() ?? null, queuedWithdrawals: queued, withdrawalsInBroadcast: inBroadcast })}\n`,
      );
      return;
    }
    const where = `account ${options.wallet}/${account.name} (${options.coin}, id ${account.id})`;
    if (!freeze) {
      io.out(
        `${where} is not frozen${queued.length > 0 ? `; its queued withdrawals ${queued.join(', ')} go out with the next broadcast` : ''}\n`,
      );
      return;
    }
    io.out(`${where} is frozen since ${account.frozenAt!.toISOString()}: it cannot send or receive transfers; deposits still credit it\n`);
    if (queued.length > 0) io.out(`held in the queue until unfreeze-account: withdrawals ${queued.join(', ')}\n`);
    if (inBroadcast.length > 0) {
      io.out(`already being broadcast, a freeze cannot stop them: withdrawals ${inBroadcast.join(', ')}\n`);
    }
  });
}

interface ExportOptions {
  readonly config?: string;
  readonly coin?: string;
  readonly csv?: boolean;
  readonly json?: boolean;
}

/** Entries read per query of `export`: memory stays bounded whatever the size of the journal. */
const EXPORT_PAGE = 1_000;

/**
 * `export`: every journal entry of every coin (or one), oldest first, as CSV or JSON lines.
 * Read in one read-only transaction (a consistent snapshot), page by page by entry id, each page
 * written out before the next is read.
 */
export function exportCommand(io: CliIo, options: ExportOptions): Promise<number> {
  if (Boolean(options.csv) === Boolean(options.json)) return usage(io, 'export: give the format, --csv or --json (JSON lines)');
  return withApp(io, options.config, { backends: false }, async (app) => {
    const codes = options.coin ? [options.coin] : app.coinCodes;
    for (const code of codes) app.coin(code); // an unknown coin is refused before anything is printed
    if (options.csv) io.out('id,time,coin,wallet,account,kind,amount,transaction_id,type,txid\n');
    await app.database.transaction('read', async (tx) => {
      for (const code of codes) {
        const coin = app.coin(code).context.coin;
        const t = coinTables(code);
        let after = 0;
        for (;;) {
          const rows = await tx.all(
            `SELECT e.id, e.created_at, e.kind, e.amount, e.transaction_id, w.name AS wallet, a.name AS account, t.type, n.txid
             FROM ${t.entry} e
             JOIN ${t.account} a ON a.id = e.account_id
             JOIN ${t.wallet} w ON w.id = a.wallet_id
             JOIN ${t.transaction} t ON t.id = e.transaction_id
             LEFT JOIN ${t.networkTransaction} n ON n.id = t.network_transaction_id
             WHERE e.id > ? ORDER BY e.id LIMIT ${EXPORT_PAGE}`,
            [after],
          );
          for (const row of rows) {
            const created = row.created_at instanceof Date ? row.created_at : new Date(String(row.created_at));
            const record = {
              id: Number(row.id),
              time: created.toISOString(),
              coin: code,
              wallet: String(row.wallet),
              account: String(row.account),
              kind: String(row.kind),
              amount: formatAmount(BigInt(String(row.amount)), coin),
              transactionId: Number(row.transaction_id),
              type: String(row.type),
              txid: row.txid === null || row.txid === undefined ? null : String(row.txid),
            };
            io.out(
              options.csv
                ? `${csvLine([record.id, record.time, record.coin, record.wallet, record.account, record.kind, record.amount, record.transactionId, record.type, record.txid])}\n`
                : `${JSON.stringify(record)}\n`,
            );
          }
          if (rows.length < EXPORT_PAGE) break;
          after = Number(rows.at(-1)!.id);
        }
      }
    });
  });
}

/** One CSV line (RFC 4180): fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvLine(fields: readonly (string | number | null | undefined)[]): string {
  return fields
    .map((field) => {
      const text = field === null || field === undefined ? '' : String(field);
      // A leading =, +, - or @ would be a formula to a spreadsheet: names are quoted and prefixed.
      // Only a whole signed number (an amount) keeps its `-`: `-1+cmd|…` is a formula too.
      const safe = /^[=+@\t\r]/.test(text) || (/^-/.test(text) && !/^-\d+(\.\d+)?$/.test(text)) ? `'${text}` : text;
      return /[",\r\n]/.test(safe) || safe !== text ? `"${safe.replaceAll('"', '""')}"` : safe;
    })
    .join(',');
}

function usage(io: CliIo, message: string): Promise<number> {
  io.err(`cryptoassets: ${message}\n`);
  return Promise.resolve(EXIT.usage);
}
