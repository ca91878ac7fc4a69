/**
 * Review of issue 9: the balance audit reads the books, the node, and the books again, and gives
 * up as `unsettled` when the books changed in between five times running — which is what a busy
 * ledger does (a deposit credited, a broadcast sent). Nothing was found wrong, yet the service
 * then reported "the balance audit failed", went not ready (503) until the next audit
 * (`audit_period`, 5 minutes by default), and set `cryptoassets_balance_audit_ok` to 0: a busy
 * hour reads like a shortfall. An audit that could not be taken says nothing new about the books.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { memoryChainOf } from '../../src/backends/factory.js';
import { parseConfig } from '../../src/config/load.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';

const quiet = { info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('stays ready when the audit could not be taken because the books kept moving', async () => {
  const config = parseConfig({
    database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
    coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
    status_server: { enabled: false },
  });
  const app = await openFromConfig(config, { migrate: true });
  const service = new HelperService(app, config, quiet, { manual: true, leaseTtlMs: 20_000 });
  const btc = app.coin('btc');
  const chain = memoryChainOf(btc.backend)!;
  try {
    // Real money on the node, credited to alice.
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const address = await btc.createReceivingAddress('main', alice);
    chain.pay(address.address, 100_000_000n);
    chain.mine(6);
    await service.start();
    await service.keepLease();
    await service.syncOnce('btc');
    await service.auditOnce('btc');
    expect((await service.status({ recent: false })).readiness).toEqual({ ready: true, reasons: [] });

    // Busy: a deposit is credited while the node's balance is being read, every time.
    chain.setCallHook(async (call) => {
      if (call.method !== 'getBalance' || call.phase !== 'before') return;
      chain.pay(address.address, 1_000_000n);
      chain.mine(6);
      await btc.syncWithChain();
    });
    await service.auditOnce('btc').catch(() => undefined);
    chain.setCallHook(null);
    const status = await service.status({ recent: false });
    // The last audit taken stands; the one not taken is counted beside it.
    expect(status.coins[0]!.audit).toMatchObject({ status: 'checked', ok: true, missedInRow: 1, unsettledInRow: 1 });
    expect(status.readiness).toEqual({ ready: true, reasons: [] });
  } finally {
    chain.setCallHook(null);
    await service.stop();
    await app.close();
  }
});
