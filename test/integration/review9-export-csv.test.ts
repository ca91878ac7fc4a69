/**
 * Review of issue 9: `export --csv` and `history --csv` must not hand a spreadsheet a formula.
 * A name or label that starts with `-` followed by a digit (`-1+cmd|' /C calc'!A0`) is a formula
 * to Excel and LibreOffice just as `=…` is; only a field that is a whole signed number (an amount)
 * may start with `-` unprefixed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { BTC } from '../../src/domain/coins.js';
import { createTestDatabase, enginesUnderTest } from '../helpers/engines.js';
import { randomTxid } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
  return { code, out, err };
}

/** Fields of CSV lines, quotes removed (no field here holds a comma or a line break). */
function fields(csv: string): string[][] {
  return csv
    .trim()
    .split('\n')
    .map((line) => line.split(',').map((field) => field.replace(/^"(.*)"$/, '$1').replaceAll('""', '"')));
}

/** A cell that a spreadsheet would evaluate: starts with = + - @ and is not a plain number. */
function isFormula(cell: string): boolean {
  return /^[=+\-@]/.test(cell) && !/^-?\d+(\.\d+)?$/.test(cell);
}

describe.each(engines)('review9: CSV exports on %s', (engine) => {
  it('prefix an account name and a label starting with "-<digit>" so that no spreadsheet runs them', async () => {
    const database = await createTestDatabase(engine);
    try {
      const app = await CryptoAssets.open({
        database: database.options,
        coins: [{ coin: BTC, network: BTC.networks.regtest! }],
        migrate: true,
      });
      try {
        const btc = app.coin('btc');
        const hostile = "-1+cmd|' /C calc'!A0";
        const address = await btc.transaction(async (book) => {
          const wallet = await book.getOrCreateWallet('main');
          await wallet.createAccount(hostile);
          await wallet.createAccount('bob');
          return wallet.addReceivingAddress(hostile, 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu');
        });
        await btc.transaction((book) =>
          book.recordDeposit({
            txid: randomTxid(),
            confirmations: BTC.confirmationThreshold,
            outputs: [{ address: address.address, amount: 100_000_000n }],
          }),
        );
        await btc.transaction(async (book) =>
          (await book.wallet('main')).transfer(hostile, 'bob', 2_500_000n, '-2+3+HYPERLINK("http://x")'),
        );
      } finally {
        await app.close();
      }
      const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
      const path = join(dir, `${engine}.yaml`);
      writeFileSync(path, `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n`);

      const exported = await cli(['export', '-c', path, '--csv']);
      expect(exported.code).toBe(0);
      const rows = fields(exported.out).slice(1);
      expect(rows).toHaveLength(3);
      expect(rows.map((row) => row[6])).toEqual(['1.00000000', '-0.02500000', '0.02500000']); // amounts stay numbers
      expect(rows.flat().filter(isFormula)).toEqual([]);

      const history = await cli(['history', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'bob', '--csv']);
      expect(history.code).toBe(0);
      expect(fields(history.out).slice(1).flat().filter(isFormula)).toEqual([]);
    } finally {
      await database.drop();
    }
  });
});
