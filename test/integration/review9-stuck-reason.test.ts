/**
 * Review of issue 9: the readiness reason for withdrawals queued too long counts them from the
 * status page's ten oldest queued withdrawals, held ones included. When the ten oldest belong to a
 * frozen account (held on purpose), a stuck withdrawal of another account is reported as
 * "0 withdrawals queued for over 1 h" — the page is not ready, and says nothing is stuck.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';
import { coinTables } from '../../src/store/migrations.js';
import { randomTxid } from '../helpers/ledger.js';

const quiet = { info() {}, warn() {}, error() {} };
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), BTC.networks.regtest!);
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-stuck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('counts the stuck withdrawals that are not held, whatever the held ones before them', async () => {
  const config = parseConfig({
    database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
    coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
    status_server: { enabled: false },
  });
  const app = await openFromConfig(config, { migrate: true });
  const service = new HelperService(app, config, quiet, { manual: true, leaseTtlMs: 20_000 });
  try {
    const btc = app.coin('btc');
    const stuck = await btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      for (const name of ['frozen', 'carol']) {
        await wallet.createAccount(name);
        const address = await wallet.addReceivingAddress(
          name,
          encodeAddress('p2wpkh', new Uint8Array(20).fill(name.length), BTC.networks.regtest!),
        );
        await book.recordDeposit({
          txid: randomTxid(),
          confirmations: BTC.confirmationThreshold,
          outputs: [{ address: address.address, amount: 10_000_000n }],
        });
      }
      for (let i = 0; i < 10; i++) await wallet.withdraw('frozen', EXTERNAL, 100_000n);
      const late = await wallet.withdraw('carol', EXTERNAL, 100_000n);
      await wallet.freezeAccount('frozen');
      return late.id;
    });
    // Everything was queued two hours ago: the default stuck age is one hour.
    await app.database.transaction('write', (tx) =>
      tx.run(`UPDATE ${coinTables('btc').transaction} SET created_at = ? WHERE type = 'withdrawal'`, [
        new Date(Date.now() - 2 * 3_600_000).toISOString(),
      ]),
    );
    await service.start();
    await service.keepLease();
    await service.syncOnce('btc');
    const status = await service.status({ recent: false });
    expect(status.coins[0]!.wallets[0]!.heldWithdrawals).toBe(10);
    const reason = status.readiness.reasons.find((text) => text.includes('queued for over'));
    expect(reason, `withdrawal ${stuck} is stuck`).toMatch(/: 1 withdrawal queued for over 1 h/);
  } finally {
    await service.stop();
    await app.close();
  }
});
