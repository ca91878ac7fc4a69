/**
 * `cryptoassets verify-ledger [--node] [--json]` as users run it: the report, the JSON document
 * and the exit codes (0 holds, 1 a problem found, 69 a node that could not be read).
 *
 * The configurations use the in-memory backend, whose chain is new and empty in every CLI run:
 * a ledger with credited deposits therefore meets a node wallet that holds nothing, the shortfall
 * the audit exists for.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { BTC } from '../../src/domain/coins.js';
import type { EngineName } from '../../src/store/database.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { randomTxid } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-verify-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ADDRESS = 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu';
let files = 0;

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
  return { code, out, err };
}

function configFor(database: TestDatabase, backend = '{type: memory}'): string {
  const url = database.engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: ${backend}}\n`);
  return path;
}

/** A ledger whose books hold, with `credited` base units credited (nothing when 0n). */
async function ledgerWith(engine: EngineName, credited: bigint): Promise<TestDatabase> {
  const database = await createTestDatabase(engine);
  const app = await CryptoAssets.open({
    database: database.options,
    coins: [{ coin: BTC, network: BTC.networks.regtest! }],
    migrate: true,
  });
  try {
    const btc = app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    if (credited > 0n) {
      await btc.transaction(async (book) => (await book.wallet('main')).addReceivingAddress(alice, ADDRESS));
      await btc.transaction((book) =>
        book.recordDeposit({
          txid: randomTxid(),
          confirmations: BTC.confirmationThreshold,
          outputs: [{ address: ADDRESS, amount: credited }],
        }),
      );
    }
  } finally {
    await app.close();
  }
  return database;
}

describe('cryptoassets verify-ledger', () => {
  it.each(engines)('on %s: exit 0 when the node agrees, 1 with the shortfall when it holds less than the books', async (engine) => {
    const empty = await ledgerWith(engine, 0n);
    const funded = await ledgerWith(engine, 500_000_000n);
    try {
      const agrees = await cli(['verify-ledger', '-c', configFor(empty), '--node', '--json']);
      expect(agrees.err).toBe('');
      expect(agrees.code).toBe(0);
      expect(JSON.parse(agrees.out)).toMatchObject({ ok: true, booksOk: true, nodeAudited: true, problems: [] });

      const path = configFor(funded);
      const short = await cli(['verify-ledger', '-c', path, '--node', '--json']);
      expect(short.err).toBe('');
      expect(short.code).toBe(1);
      const result = JSON.parse(short.out) as { ok: boolean; problems: string[]; coins: { node: Record<string, unknown> }[] };
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual(['btc: the node wallet holds 500000000 base units less than the ledger expects']);
      expect(result.coins[0]!.node).toMatchObject({
        status: 'checked',
        nodeBalance: '0',
        difference: '-500000000',
        shortfall: '500000000',
      });
      expect((result.coins[0]!.node.ledger as Record<string, unknown>).expected).toBe('500000000');

      // Without --node the books alone are checked, and they hold.
      const books = await cli(['verify-ledger', '-c', path]);
      expect(books).toMatchObject({ code: 0, err: '' });
      expect(books.out).toBe('btc: books hold over 1 wallet\nverify-ledger: ok\n');
    } finally {
      await empty.drop();
      await funded.drop();
    }
  });

  it('prints a readable report with the figures and the problem line', async () => {
    const funded = await ledgerWith('sqlite', 150_000n);
    try {
      const result = await cli(['verify-ledger', '-c', configFor(funded), '--node']);
      expect(result.code).toBe(1);
      expect(result.out.split('\n')).toEqual([
        'btc: books hold over 1 wallet',
        'btc: ledger expects 0.00150000 btc = credited 0.00150000 btc + imported 0.00000000 btc - withdrawals out 0.00000000 btc - fees 0.00000000 btc',
        'btc: node wallet holds 0.00000000 btc (minconf 0): difference -0.00150000 btc',
        expect.stringMatching(/^btc: {3}shortfall 0\.00150000 btc: the node holds less than the ledger expects/),
        'btc: node audit FAILED',
        'PROBLEM btc: the node wallet holds 150000 base units less than the ledger expects',
        'verify-ledger: FAILED (1 problem)',
        '',
      ]);
    } finally {
      await funded.drop();
    }
  });

  it('exits 1 when the books do not hold, with or without --node', async () => {
    const database = await ledgerWith('sqlite', 0n);
    try {
      const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] });
      // A cached balance that its journal does not explain.
      await app.database.transaction('write', (tx) => tx.run(`UPDATE btc_account SET balance = balance + 1 WHERE name = 'alice'`));
      await app.close();
      const path = configFor(database);
      for (const args of [[], ['--node']]) {
        const result = await cli(['verify-ledger', '-c', path, '--json', ...args]);
        expect(result.code).toBe(1);
        expect(JSON.parse(result.out)).toMatchObject({ ok: false, booksOk: false });
      }
    } finally {
      await database.drop();
    }
  });

  it('exits 69 when a node cannot be read, reporting the coin as not checked', async () => {
    const database = await ledgerWith('sqlite', 0n);
    try {
      const path = configFor(database, '{type: bitcoind, url: "http://127.0.0.1:1", username: u, password: p, wallet: w}');
      const result = await cli(['verify-ledger', '-c', path, '--node', '--json']);
      expect(result.code).toBe(69);
      const check = JSON.parse(result.out) as {
        ok: boolean;
        booksOk: boolean;
        problems: string[];
        coins: { node: Record<string, unknown> }[];
      };
      expect(check).toMatchObject({ ok: false, booksOk: true });
      expect(check.coins[0]!.node).toMatchObject({ status: 'unreachable', ok: false });
      expect(check.problems).toHaveLength(1);
      expect(check.problems[0]).toMatch(/^btc: not checked against the node: /);
      // The books alone need no node.
      expect((await cli(['verify-ledger', '-c', path])).code).toBe(0);
    } finally {
      await database.drop();
    }
  });
});
