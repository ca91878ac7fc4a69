/**
 * Review of issue 9: what operator commands list must be complete.
 * - `freeze-account` read the account's queued withdrawals with one page of `listTransactions`
 *   (1 000 at most): with more, the withdrawals it holds were silently cut short, in text and JSON.
 * - `withdrawals` (by default: those that have not left) hid withdrawals in a broadcast whose
 *   outcome is unknown (opened, or under vetting): the money an operator most needs to find.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import type { EngineName } from '../../src/store/database.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { randomTxid } from '../helpers/ledger.js';

const engines = await enginesUnderTest();
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), BTC.networks.regtest!);
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-lists-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
  return { code, out, err };
}

/** A ledger whose account alice is funded with 1 BTC; `seed` runs on it before the CLI is used. */
async function ledgerWith(
  engine: EngineName,
  seed: (app: CryptoAssets) => Promise<void>,
): Promise<{ database: TestDatabase; path: string }> {
  const database = await createTestDatabase(engine);
  const app = await CryptoAssets.open({
    database: database.options,
    coins: [{ coin: BTC, network: BTC.networks.regtest! }],
    migrate: true,
  });
  try {
    const btc = app.coin('btc');
    const address = await btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      await wallet.createAccount('alice');
      return wallet.addReceivingAddress('alice', 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu');
    });
    await btc.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: BTC.confirmationThreshold,
        outputs: [{ address: address.address, amount: 100_000_000n }],
      }),
    );
    await seed(app);
    expect((await app.verifyLedger()).ok).toBe(true);
  } finally {
    await app.close();
  }
  const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
  const path = join(dir, `config-${engine}-${Date.now()}.yaml`);
  writeFileSync(path, `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}}\n`);
  return { database, path };
}

describe.each(engines)('review9: operator lists on %s', (engine) => {
  it('freeze-account lists every queued withdrawal it holds, also past 1 000', async () => {
    const ids: number[] = [];
    const { database, path } = await ledgerWith(engine, (app) =>
      app.coin('btc').transaction(async (book) => {
        const wallet = await book.wallet('main');
        for (let i = 0; i < 1_005; i++) ids.push((await wallet.withdraw('alice', EXTERNAL, 1_000n)).id);
      }),
    );
    try {
      const frozen = await cli(['freeze-account', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'alice', '--json']);
      expect(frozen.code).toBe(0);
      expect((JSON.parse(frozen.out) as { queuedWithdrawals: number[] }).queuedWithdrawals).toEqual(ids);
    } finally {
      await database.drop();
    }
  }, 120_000);

  it('withdrawals lists a withdrawal whose broadcast is open or under vetting', async () => {
    let id = 0;
    const { database, path } = await ledgerWith(engine, async (app) => {
      const btc = app.coin('btc');
      id = (await btc.transaction(async (book) => (await book.wallet('main')).withdraw('alice', EXTERNAL, 10_000_000n))).id;
      const opened = await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast());
      await btc.transaction(async (book) => (await book.wallet('main')).markBroadcastForVetting(opened!.broadcast.id));
    });
    try {
      const listed = await cli(['withdrawals', '-c', path, '--json']);
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.out) as { id: number; state: string }[]).map((w) => [w.id, w.state])).toEqual([[id, 'broadcasting']]);
    } finally {
      await database.drop();
    }
  });
});
