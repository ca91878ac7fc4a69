/**
 * The command line as users run it: exit codes, one-line errors, initialize-database on both
 * engines, and the demo end to end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { BTC, LTC } from '../../src/domain/coins.js';
import { runCli } from '../../src/cli/program.js';
import { sequenceEvents } from '../../src/events/event-store.js';
import { createTestDatabase, enginesUnderTest } from '../helpers/engines.js';
import { INTEGRATION_REQUIRED, litecoindAvailable } from '../helpers/regtest.js';

const engines = await enginesUnderTest();
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env,
  });
  return { code, out, err };
}

function configFile(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

describe('cryptoassets command line', () => {
  it('prints help and version with exit 0', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('initialize-database');
    expect(help.out).toContain('demo');
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('answers a usage error with exit 64', async () => {
    const result = await cli(['no-such-command']);
    expect(result.code).toBe(64);
    expect(result.err).toContain("unknown command 'no-such-command'");
  });

  it('reports a missing or malformed configuration in one line with exit 78', async () => {
    const missing = await cli(['initialize-database']);
    expect(missing).toMatchObject({ code: 78, out: '' });
    expect(missing.err).toBe('cryptoassets: config: no configuration file: pass -c FILE or set CRYPTOASSETS_CONFIG\n');
    const bad = configFile(
      'bad.yaml',
      'database:\n  url: sqlite:x.sqlite\ncoins:\n  btc:\n    network: moonnet\n    backend: {type: memory}\n',
    );
    const malformed = await cli(['initialize-database', '-c', bad]);
    expect(malformed.code).toBe(78);
    expect(malformed.err.trim().split('\n')).toHaveLength(1);
    expect(malformed.err).toMatch(/^cryptoassets: config: coins\.btc\.network: /);
    const noFile = await cli(['initialize-database', '-c', join(dir, 'nope.yaml')]);
    expect(noFile.code).toBe(78);
  });

  it('refuses a custom coin whose max_money could overflow a balance, in one line with exit 78, opening nothing', async () => {
    const database = join(dir, 'overflowing-coin.sqlite');
    const path = configFile(
      'overflowing-coin.yaml',
      `database:\n  url: sqlite:${database}\ncoins:\n  big:\n    network: main\n    name: Big\n    decimals: 18\n` +
        '    max_money: ${BIG_MAX_MONEY}\n    networks: {main: {p2pkh: 50, p2sh: [55]}}\n    backend: {type: memory}\n',
    );
    const result = await cli(['initialize-database', '-c', path], { BIG_MAX_MONEY: '77777' });
    expect(result).toMatchObject({ code: 78, out: '' });
    expect(result.err).toBe(
      'cryptoassets: config: coins.big.max_money: exceeds what a 64-bit balance can hold at 18 decimals (at most 9.223372036854775807 coins)\n',
    );
    // The value may come from the environment (a secret elsewhere): it is never quoted.
    expect(result.err).not.toContain('77777');
    expect(existsSync(database)).toBe(false);
  });

  it('reports an unreachable database with exit 69', async () => {
    const path = configFile(
      'down.yaml',
      'database:\n  url: postgresql://127.0.0.1:1/none\ncoins:\n  btc:\n    network: regtest\n    backend: {type: memory}\n',
    );
    const result = await cli(['initialize-database', '-c', path]);
    expect(result.code).toBe(69);
    expect(result.err.trim().split('\n')).toHaveLength(1);
  });

  it.each(engines)('initializes the database on %s, and again harmlessly', async (engine) => {
    const database = await createTestDatabase(engine);
    try {
      const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
      const path = configFile(
        `init-${engine}.yaml`,
        `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n  ltc: {network: regtest, backend: {type: memory}}\n`,
      );
      const first = await cli(['initialize-database', '-c', path]);
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      expect(first.out).toContain('btc: applied migrations 1');
      expect(first.out).toContain('ltc: applied migrations 1');
      const second = await cli(['initialize-database', '-c', path]);
      expect(second.out).toContain('btc: already up to date');
      const options =
        engine === 'sqlite'
          ? ({ kind: 'sqlite', path: database.location } as const)
          : ({ kind: 'postgres', url: database.location } as const);
      const app = await CryptoAssets.open({
        database: options,
        coins: [
          { coin: BTC, network: BTC.networks.regtest! },
          { coin: LTC, network: LTC.networks.regtest! },
        ],
      });
      expect(await app.coin('ltc').read((book) => book.listWallets())).toEqual([]);
      await app.close();
    } finally {
      await database.drop();
    }
  });

  it('refuses to open a database that was never initialized', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const error = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] }).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).toContain('run `cryptoassets initialize-database`');
    } finally {
      await database.drop();
    }
  });

  it('prints events, lists dead letters, and asks for redelivery', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const path = configFile(
        'events.yaml',
        `database:\n  url: "sqlite:${database.location}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\nevents:\n  app: {type: webhook, url: "http://127.0.0.1:9/"}\n`,
      );
      const app = await CryptoAssets.open({
        database: database.options,
        coins: [{ coin: BTC, network: BTC.networks.regtest! }],
        migrate: true,
      });
      const btc = app.coin('btc');
      const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
      const address = 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu';
      await btc.transaction(async (book) => (await book.wallet('main')).addReceivingAddress(alice, address));
      await btc.transaction((book) => book.recordDeposit({ txid: 'ab'.repeat(32), confirmations: 0, outputs: [{ address, amount: 5n }] }));
      await sequenceEvents(app.database);
      await app.close();

      const events = await cli(['events', '-c', path]);
      expect(events.code).toBe(0);
      const lines = events.out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string; data: { txid: string } });
      expect(lines.map((event) => [event.id, event.data.txid])).toEqual([['1', 'ab'.repeat(32)]]);
      expect((await cli(['events', '-c', path, '--after', '1'])).out).toBe('');
      expect((await cli(['dead-letters', '-c', path])).out).toBe('no dead letters\n');
      const redeliver = await cli(['redeliver', '-c', path, '--handler', 'app']);
      expect(redeliver).toMatchObject({ code: 0, out: '0 dead letter(s) of app will be delivered again by the running service\n' });
      const bad = await cli(['events', '-c', path, '--after', 'x']);
      expect(bad).toMatchObject({ code: 64, err: 'cryptoassets: events: --after must be an event id and --limit 1..1000\n' });
    } finally {
      await database.drop();
    }
  });

  it.each([
    [['demo'], 'BTC', 'on an in-memory chain', ''],
    // On block.io the deposit reaches the ledger by webhook: the fake posts, the receiver hands the txid on.
    [['demo', '--backend', 'blockio-fake'], 'LTC', 'on block.io: a fake block.io at http://127.0.0.1:', ' (webhook for '],
  ])('runs the demo end to end: %j', async (args, unit, backend, news) => {
    const result = await cli(args);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain(backend);
    expect(result.out).toContain(`block 3: balance 0.50000000 ${unit}, on its way 0.00000000 ${unit}${news}`);
    expect(result.out).toContain('with 3 withdrawals');
    expect(result.out).toContain(': consistent');
  });

  it('refuses an unknown demo backend with a usage error', async () => {
    const wrong = await cli(['demo', '--backend', 'nope']);
    expect(wrong.code).toBe(64);
    expect(wrong.err).toBe('cryptoassets: demo --backend must be one of memory, blockio-fake (and memory with --live)\n');
  });

  it.runIf(litecoindAvailable() || INTEGRATION_REQUIRED)('runs the live demo against its own regtest node', async () => {
    const result = await cli(['demo', '--live']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain('the node notified the service');
    expect(result.out).toContain('block 3: deposit credited, alice 1.50000000 LTC');
    expect(result.out).toContain('the node lists 3 payments in it');
    expect(result.out).toContain('ledger check: consistent');
    expect(result.out).toContain('they agree');
  });

  it('exits from the real binary with the documented code and no stack trace', () => {
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', main, 'initialize-database', '-c', join(dir, 'absent.yaml')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(result.status).toBe(78);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
