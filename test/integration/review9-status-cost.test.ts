/**
 * Review of issue 9: /ready and /metrics are asked every few seconds by monitors, so what they
 * read must not grow with the ledger's history. `status({ recent: false })` read every closed and
 * returned broadcast of every wallet (to find the conflicted ones and the ten latest) on each
 * call: measured on SQLite, 1.6 ms with none, 232 ms with 20 000 returned broadcasts, 1.27 s
 * with 100 000 — past a readiness probe's usual 1 s time limit. Returned broadcasts pile up by
 * themselves: every round the node is down returns one.
 *
 * The test counts the rows the status reads instead of timing it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService } from '../../src/service/helper-service.js';
import type { SqlExecutor } from '../../src/store/database.js';
import { coinTables } from '../../src/store/migrations.js';

const quiet = { info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-review9-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads a bounded number of rows for /ready and /metrics, however many broadcasts were returned', async () => {
  const config = parseConfig({
    database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
    coins: { btc: { network: 'regtest', backend: { type: 'memory' } } },
    status_server: { enabled: false },
  });
  const app = await openFromConfig(config, { migrate: true });
  const service = new HelperService(app, config, quiet, { manual: true, leaseTtlMs: 20_000 });
  try {
    const walletId = await app.coin('btc').transaction(async (book) => (await book.getOrCreateWallet('main')).id);
    const t = coinTables('btc');
    const at = '2026-01-01T00:00:00.000Z';
    await app.database.transaction('write', (tx) =>
      tx.run(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO ${t.networkTransaction} (transaction_type, wallet_id, state, confirmations, opened_at, closed_at, created_at, updated_at)
         SELECT 'broadcast', ?, 'returned', 0, ?, ?, ?, ? FROM n`,
        [walletId, at, at, at, at],
      ),
    );

    let rowsRead = 0;
    const transaction = app.database.transaction.bind(app.database);
    app.database.transaction = ((mode, fn) =>
      transaction(mode, (tx: SqlExecutor) =>
        fn({
          ...tx,
          run: tx.run.bind(tx),
          get: tx.get.bind(tx),
          all: async (sql, params) => {
            const rows = await tx.all(sql, params);
            rowsRead += rows.length;
            return rows;
          },
        } as SqlExecutor),
      )) as typeof app.database.transaction;

    const status = await service.status({ recent: false });
    expect(status.coins[0]!.wallets[0]!.recentBroadcasts).toHaveLength(10);
    expect(rowsRead).toBeLessThan(500);
  } finally {
    await service.stop();
    await app.close();
  }
});
