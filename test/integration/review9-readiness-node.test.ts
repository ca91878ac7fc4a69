/**
 * Review of issue 9: /ready must say when the node cannot serve the service. A node that answers
 * every call with an RPC error (its wallet unloaded, or warming up after a restart) syncs nothing
 * and sends nothing, yet it is counted as "reachable" and the service stays ready.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';
import { describeWithNode, RegtestNode } from '../helpers/regtest.js';

const quiet: LedgerLog = { info() {}, warn() {}, error() {} };

describeWithNode()('review9: readiness with a node that answers with errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-ready-'));
  let node: RegtestNode;

  beforeAll(async () => {
    node = await RegtestNode.start();
  });
  afterAll(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is not ready while the node wallet is not loaded (every sync fails with RPC error -18)', async () => {
    const wallet = await node.createWallet('ready');
    const config = parseConfig({
      database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
      coins: {
        ltc: {
          network: 'regtest',
          backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet, timeout_ms: 8_000 },
        },
      },
      status_server: { enabled: false },
      service: { log_level: 'silent' },
    });
    const app = await openFromConfig(config, { migrate: true });
    const service = new HelperService(app, config, quiet, { leaseTtlMs: 20_000, manual: true });
    try {
      await service.start();
      await service.keepLease();
      await service.syncOnce('ltc');
      expect((await service.status()).readiness).toEqual({ ready: true, reasons: [] });

      await node.unloadWallet(wallet);
      // Two rounds: the service can do nothing with this node.
      await expect(service.syncOnce('ltc')).rejects.toThrow(/-18/);
      await expect(service.syncOnce('ltc')).rejects.toThrow(/-18/);
      const status = await service.status();
      expect(status.readiness.ready).toBe(false);
      expect(status.readiness.reasons.join('\n')).toMatch(/^ltc: /m);
      expect(status.coins[0]!.lastNodeError ?? '').toMatch(/-18/);
    } finally {
      await service.stop();
      await app.close();
    }
  }, 120_000);
});
