/**
 * The `cryptoassets` command line. Commands live in `commands/`; this file wires them to
 * commander and turns errors into one-line messages and documented exit codes. It is the only
 * place (with main.ts) that touches process-level state.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
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
  for (const spec of commandSpecs(io)) {
    const command = program.command(spec.name).description(spec.description);
    for (const option of spec.options) {
      if (option.required) command.requiredOption(option.flags, option.description);
      else command.option(option.flags, option.description, option.default);
    }
    if (spec.config !== false) command.option('-c, --config <file>', 'configuration file (YAML)', io.env.CRYPTOASSETS_CONFIG);
    command.action(function (this: Command) {
      return run(() => spec.run(this.opts()))();
    });
  }
  return program;
}

/** One option of a command, as commander takes it. */
interface OptionSpec {
  readonly flags: string;
  readonly description: string;
  readonly required?: boolean;
  readonly default?: string;
}

/** One command: its options, and the function that runs it and resolves to an exit code. */
interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** Whether it reads a configuration file (`-c`); default true. */
  readonly config?: false;
  // Commander hands over the parsed options untyped; each command checks what it uses.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly run: (options: any) => Promise<number>;
}

const coin: OptionSpec = { flags: '--coin <code>', description: 'coin', required: true };
const wallet: OptionSpec = { flags: '--wallet <name>', description: 'wallet', required: true };
const account: OptionSpec = { flags: '--account <name>', description: 'account name', required: true };
const onlyCoin: OptionSpec = { flags: '--coin <code>', description: 'only this coin' };
const onlyWallet: OptionSpec = { flags: '--wallet <name>', description: 'only this wallet' };
const json = (description = 'print one JSON document'): OptionSpec => ({ flags: '--json', description });

/** Every command, in the order `--help` lists them. */
function commandSpecs(io: CliIo): readonly CommandSpec[] {
  return [
    {
      name: 'initialize-database',
      description: 'create or upgrade the tables of every configured coin (safe to run again)',
      options: [],
      run: (options) => initializeDatabaseCommand(io, options),
    },
    {
      name: 'service',
      description: 'run the helper service: broadcasts, confirmations, notifications, status page (stops on SIGTERM)',
      options: [
        { flags: '--initialize-database', description: 'create or upgrade the tables first (as initialize-database does)' },
        {
          flags: '--log-level <level>',
          description: 'fatal, error, warn, info, debug, trace or silent (default: CRYPTOASSETS_LOG_LEVEL, else service.log_level)',
        },
      ],
      run: (options) => serviceCommand(io, options),
    },
    {
      name: 'scan-received',
      description: "record every transaction the nodes' wallets received (finds missed deposits)",
      options: [onlyCoin],
      run: (options) => scanReceivedCommand(io, options),
    },
    {
      name: 'import-balance',
      description: "book a node wallet's unaccounted balance onto an account, once",
      options: [coin, wallet, { ...account, description: 'account to credit (created if missing)' }],
      run: (options) => importBalanceCommand(io, options),
    },
    {
      name: 'resolve-broadcast',
      description: 'settle a broadcast under vetting: --sent TXID --fee AMOUNT, or --not-sent',
      options: [
        coin,
        wallet,
        { flags: '--id <number>', description: 'broadcast id (see the status page)', required: true },
        { flags: '--sent <txid>', description: 'it went out as this transaction' },
        { flags: '--fee <amount>', description: 'its network fee, in coins' },
        { flags: '--not-sent', description: 'it never reached the network: return its withdrawals to the queue' },
      ],
      run: (options) => resolveBroadcastCommand(io, options),
    },
    ...(
      [
        ['retry-withdrawal', 'put a withdrawal the node refused back in the queue', retryWithdrawalCommand],
        [
          'cancel-withdrawal',
          'cancel a pending or refused withdrawal; its amount is refunded to the account by a new entry',
          cancelWithdrawalCommand,
        ],
      ] as const
    ).map(([name, description, command]) => ({
      name,
      description,
      options: [
        coin,
        wallet,
        { flags: '--id <number>', description: 'withdrawal (transaction) id' },
        ...(name === 'retry-withdrawal'
          ? [{ flags: '--all-refused', description: 'every refused withdrawal of the wallet, in one transaction (instead of --id)' }]
          : []),
        json('print the withdrawal as JSON (with --all-refused: a list)'),
      ],
      run: (options: Parameters<typeof command>[1]) => command(io, options),
    })),
    {
      name: 'balances',
      description: 'the balance of every account, per coin and wallet, in coins',
      options: [onlyCoin, onlyWallet, json()],
      run: (options) => balancesCommand(io, options),
    },
    {
      name: 'accounts',
      description: 'the accounts: id, name, kind, balance, frozen or not',
      options: [onlyCoin, onlyWallet, json()],
      run: (options) => accountsCommand(io, options),
    },
    {
      name: 'history',
      description: "a page of an account's journal entries, newest first",
      options: [
        coin,
        wallet,
        account,
        { flags: '--limit <n>', description: 'entries per page (1..1000)', default: '100' },
        { flags: '--before <id>', description: 'only entries older than this entry id (the next page)' },
        { flags: '--csv', description: 'print CSV' },
        json(),
      ],
      run: (options) => historyCommand(io, options),
    },
    {
      name: 'withdrawals',
      description: 'withdrawals not surely sent (pending, broadcasting and refused by default): amount, address, state, age, refusal',
      options: [
        onlyCoin,
        onlyWallet,
        { flags: '--pending', description: 'queued ones' },
        { flags: '--refused', description: 'those the node refused' },
        { flags: '--all', description: 'every withdrawal, whatever its state' },
        json(),
      ],
      run: (options) => withdrawalsCommand(io, options),
    },
    ...(
      [
        ['freeze-account', 'freeze an account: it cannot send or receive transfers; deposits still credit it', true],
        ['unfreeze-account', 'unfreeze an account', false],
      ] as const
    ).map(([name, description, freeze]) => ({
      name,
      description,
      options: [coin, wallet, account, json('print the account as JSON')],
      run: (options: Parameters<typeof freezeCommand>[1]) => freezeCommand(io, options, freeze),
    })),
    {
      name: 'export',
      description: 'every journal entry, oldest first, for accounting (streamed)',
      options: [onlyCoin, { flags: '--csv', description: 'CSV with a header line' }, json('one JSON document per line')],
      run: (options) => exportCommand(io, options),
    },
    {
      name: 'doctor',
      description:
        'check the configuration, the database and its schema, each node and wallet, the notification listener and webhook targets',
      options: [json('print the checks as one JSON document')],
      run: (options) => doctorCommand(io, options),
    },
    {
      name: 'verify-ledger',
      description: "check the books; with --node, audit each coin's node wallet against them",
      options: [
        { flags: '--node', description: 'also compare each node wallet with the books (exit 1 when a node holds less)' },
        json('print the result as one JSON document (amounts in base units, as text)'),
        { flags: '--fail-on-unaccounted', description: 'with --node: money on a node that the books do not account for fails too' },
      ],
      run: (options) => verifyLedgerCommand(io, options),
    },
    {
      name: 'events',
      description: 'print txupdate events after an id, one JSON document per line',
      options: [
        { flags: '--after <id>', description: 'only events with a greater id', default: '0' },
        { flags: '--limit <n>', description: 'at most this many (1..1000)', default: '100' },
      ],
      run: (options) => eventsCommand(io, options),
    },
    {
      name: 'dead-letters',
      description: 'list events a handler gave up on',
      options: [{ flags: '--handler <name>', description: 'only this handler' }],
      run: (options) => deadLettersCommand(io, options),
    },
    {
      name: 'redeliver',
      description: "deliver a handler's dead letters again (the running service sends them)",
      options: [
        { flags: '--handler <name>', description: 'event handler name from the configuration', required: true },
        { flags: '--event <id>', description: 'only this event' },
      ],
      run: (options) => redeliverCommand(io, options),
    },
    {
      name: 'demo',
      description: 'a narrated tour of the ledger on SQLite and the in-memory chain (--live: a real regtest node)',
      config: false,
      options: [
        { flags: '--database <file>', description: 'SQLite file to use (default: a temporary file, removed afterwards)' },
        { flags: '--live', description: 'start a Litecoin Core regtest node and the helper service, and show it all live' },
        {
          flags: '--backend <name>',
          description: 'backend of the offline tour: memory, or blockio-fake (a fake block.io on 127.0.0.1)',
          default: 'memory',
        },
      ],
      // Loaded when asked for: the tour's fake block.io brings signing libraries no other command needs.
      run: async (options) => (await import('./commands/demo.js')).demoCommand(io, options),
    },
  ];
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
