/**
 * The `cryptoassets` command line. Commands live in `commands/`; this file wires them to
 * commander and turns errors into one-line messages and documented exit codes. It is the only
 * place (with main.ts) that touches process-level state.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { demoCommand } from './commands/demo.js';
import { initializeDatabaseCommand } from './commands/initialize-database.js';
import { importBalanceCommand, resolveBroadcastCommand, scanReceivedCommand } from './commands/node-commands.js';
import { cancelWithdrawalCommand, retryWithdrawalCommand } from './commands/withdrawal-commands.js';
import { serviceCommand } from './commands/service.js';
import { deadLettersCommand, eventsCommand, redeliverCommand } from './commands/event-commands.js';
import { verifyLedgerCommand } from './commands/verify-ledger.js';
import {
  accountsCommand,
  balancesCommand,
  exportCommand,
  freezeCommand,
  historyCommand,
  withdrawalsCommand,
} from './commands/operator-commands.js';
import { doctorCommand } from './commands/doctor.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';

/** Where command output goes; tests pass their own. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const PROCESS_IO: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
};

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** Build the program; each action resolves to an exit code. */
export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('cryptoassets')
    .description('Cryptocurrency accounting: a race-free ledger of wallets and accounts, deposits and batched withdrawals.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Configuration: -c FILE, or the CRYPTOASSETS_CONFIG environment variable. See docs/configuration.md.
Exit codes: 0 ok, 1 refused, 2 service critical failure, 64 usage, 69 database or node unreachable,
70 internal error, 78 bad configuration, 130/143 demo --live stopped by a signal. See docs/cli.md.`,
  );
  const run = (action: () => Promise<number>) => async () => setExitCode(await action());
  const configOption = (command: Command) => command.option('-c, --config <file>', 'configuration file (YAML)', io.env.CRYPTOASSETS_CONFIG);

  configOption(
    program.command('initialize-database').description('create or upgrade the tables of every configured coin (safe to run again)'),
  ).action(function (this: Command) {
    return run(() => initializeDatabaseCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('service')
      .description('run the helper service: broadcasts, confirmations, notifications, status page (stops on SIGTERM)')
      .option('--initialize-database', 'create or upgrade the tables first (as initialize-database does)')
      .option(
        '--log-level <level>',
        'fatal, error, warn, info, debug, trace or silent (default: CRYPTOASSETS_LOG_LEVEL, else service.log_level)',
      ),
  ).action(function (this: Command) {
    return run(() => serviceCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('scan-received')
      .description("record every transaction the nodes' wallets received (finds missed deposits)")
      .option('--coin <code>', 'only this coin'),
  ).action(function (this: Command) {
    return run(() => scanReceivedCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('import-balance')
      .description("book a node wallet's unaccounted balance onto an account, once")
      .requiredOption('--coin <code>', 'coin')
      .requiredOption('--wallet <name>', 'wallet')
      .requiredOption('--account <name>', 'account to credit (created if missing)'),
  ).action(function (this: Command) {
    return run(() => importBalanceCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('resolve-broadcast')
      .description('settle a broadcast under vetting: --sent TXID --fee AMOUNT, or --not-sent')
      .requiredOption('--coin <code>', 'coin')
      .requiredOption('--wallet <name>', 'wallet')
      .requiredOption('--id <number>', 'broadcast id (see the status page)')
      .option('--sent <txid>', 'it went out as this transaction')
      .option('--fee <amount>', 'its network fee, in coins')
      .option('--not-sent', 'it never reached the network: return its withdrawals to the queue'),
  ).action(function (this: Command) {
    return run(() => resolveBroadcastCommand(io, this.opts()))();
  });

  for (const [name, description, command] of [
    ['retry-withdrawal', 'put a withdrawal the node refused back in the queue', retryWithdrawalCommand],
    [
      'cancel-withdrawal',
      'cancel a pending or refused withdrawal; its amount is refunded to the account by a new entry',
      cancelWithdrawalCommand,
    ],
  ] as const) {
    configOption(
      program
        .command(name)
        .description(description)
        .requiredOption('--coin <code>', 'coin')
        .requiredOption('--wallet <name>', 'wallet')
        .requiredOption('--id <number>', 'withdrawal (transaction) id')
        .option('--json', 'print the withdrawal as JSON'),
    ).action(function (this: Command) {
      return run(() => command(io, this.opts()))();
    });
  }

  configOption(
    program
      .command('balances')
      .description('the balance of every account, per coin and wallet, in coins')
      .option('--coin <code>', 'only this coin')
      .option('--wallet <name>', 'only this wallet')
      .option('--json', 'print one JSON document'),
  ).action(function (this: Command) {
    return run(() => balancesCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('accounts')
      .description('the accounts: id, name, kind, balance, frozen or not')
      .option('--coin <code>', 'only this coin')
      .option('--wallet <name>', 'only this wallet')
      .option('--json', 'print one JSON document'),
  ).action(function (this: Command) {
    return run(() => accountsCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('history')
      .description("a page of an account's journal entries, newest first")
      .requiredOption('--coin <code>', 'coin')
      .requiredOption('--wallet <name>', 'wallet')
      .requiredOption('--account <name>', 'account name')
      .option('--limit <n>', 'entries per page (1..1000)', '100')
      .option('--before <id>', 'only entries older than this entry id (the next page)')
      .option('--csv', 'print CSV')
      .option('--json', 'print one JSON document'),
  ).action(function (this: Command) {
    return run(() => historyCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('withdrawals')
      .description('withdrawals waiting (pending and refused by default): amount, address, state, age, refusal')
      .option('--coin <code>', 'only this coin')
      .option('--wallet <name>', 'only this wallet')
      .option('--pending', 'queued ones')
      .option('--refused', 'those the node refused')
      .option('--all', 'every withdrawal, whatever its state')
      .option('--json', 'print one JSON document'),
  ).action(function (this: Command) {
    return run(() => withdrawalsCommand(io, this.opts()))();
  });

  for (const [name, description, freeze] of [
    ['freeze-account', 'freeze an account: it cannot send or receive transfers; deposits still credit it', true],
    ['unfreeze-account', 'unfreeze an account', false],
  ] as const) {
    configOption(
      program
        .command(name)
        .description(description)
        .requiredOption('--coin <code>', 'coin')
        .requiredOption('--wallet <name>', 'wallet')
        .requiredOption('--account <name>', 'account name')
        .option('--json', 'print the account as JSON'),
    ).action(function (this: Command) {
      return run(() => freezeCommand(io, this.opts(), freeze))();
    });
  }

  configOption(
    program
      .command('export')
      .description('every journal entry, oldest first, for accounting (streamed)')
      .option('--coin <code>', 'only this coin')
      .option('--csv', 'CSV with a header line')
      .option('--json', 'one JSON document per line'),
  ).action(function (this: Command) {
    return run(() => exportCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('doctor')
      .description(
        'check the configuration, the database and its schema, each node and wallet, the notification listener and webhook targets',
      )
      .option('--json', 'print the checks as one JSON document'),
  ).action(function (this: Command) {
    return run(() => doctorCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('verify-ledger')
      .description("check the books; with --node, audit each coin's node wallet against them")
      .option('--node', 'also compare each node wallet with the books (exit 1 when a node holds less)')
      .option('--json', 'print the result as one JSON document (amounts in base units, as text)')
      .option('--fail-on-unaccounted', 'with --node: money on a node that the books do not account for fails too'),
  ).action(function (this: Command) {
    return run(() => verifyLedgerCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('events')
      .description('print txupdate events after an id, one JSON document per line')
      .option('--after <id>', 'only events with a greater id', '0')
      .option('--limit <n>', 'at most this many (1..1000)', '100'),
  ).action(function (this: Command) {
    return run(() => eventsCommand(io, this.opts()))();
  });

  configOption(
    program.command('dead-letters').description('list events a handler gave up on').option('--handler <name>', 'only this handler'),
  ).action(function (this: Command) {
    return run(() => deadLettersCommand(io, this.opts()))();
  });

  configOption(
    program
      .command('redeliver')
      .description("deliver a handler's dead letters again (the running service sends them)")
      .requiredOption('--handler <name>', 'event handler name from the configuration')
      .option('--event <id>', 'only this event'),
  ).action(function (this: Command) {
    return run(() => redeliverCommand(io, this.opts()))();
  });

  program
    .command('demo')
    .description('a narrated tour of the ledger on SQLite and the in-memory chain (--live: a real regtest node)')
    .option('--database <file>', 'SQLite file to use (default: a temporary file, removed afterwards)')
    .option('--live', 'start a Litecoin Core regtest node and the helper service, and show it all live')
    .option('--backend <name>', 'backend of the offline tour: memory, or blockio-fake (a fake block.io on 127.0.0.1)', 'memory')
    .action(function (this: Command) {
      return run(() => demoCommand(io, this.opts()))();
    });
  return program;
}

/** Run the command line; resolves to the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(io, error);
  }
}

/** Print an error the way every command does: one line, or a stack trace for a bug. */
export function reportError(io: CliIo, error: unknown): number {
  const line = describeError(error);
  if (line !== undefined) io.err(`cryptoassets: ${line}\n`);
  else io.err(`cryptoassets: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return exitCodeFor(error);
}
