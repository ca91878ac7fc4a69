/**
 * The status server's dashboard in a real headless Chromium (Debian's, driven by playwright-core;
 * JavaScript switched off, as the page must work without it), against a running helper service
 * on a real Litecoin Core regtest node. It asserts what a person sees in each state, without ever
 * reloading the page by hand (the page's meta refresh must bring each change in):
 *
 * 1. healthy: Ready, the node reachable at the node's height, the balance audit ok, the deposit
 *    and the sent broadcast listed with their txids linked to the configured explorer;
 * 2. node down (the node stopped): Not ready, "the node is unreachable";
 * 3. withdrawal refused (more than the node wallet holds once the fee is added): Not ready, the
 *    refused withdrawal named in the headline and in its wallet;
 * 4. audit failing (a send from the node wallet outside the ledger): Not ready, audit FAILED.
 *
 * Screenshots (desktop and phone) go to test-output/dashboard/*.png (git-ignored).
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { formatAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import type { LedgerLog } from '../../src/ledger/coin-ledger.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { HelperService, type ServiceStatus } from '../../src/service/helper-service.js';
import { StatusServer } from '../../src/service/status-server.js';
import { describeWithNode, INTEGRATION_REQUIRED, RegtestNode, waitUntil } from '../helpers/regtest.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));
const EXPLORER = 'https://explorer.example/ltc/tx/{txid}';
const quiet: LedgerLog = { info() {}, warn() {}, error() {} };
/** Generous: the page refreshes every 5 s, the service polls every 0.3 s; a slow machine must still pass. */
const SEEN_WITHIN_MS = 90_000;

function chromiumAvailable(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const describeWithBrowser =
  chromiumAvailable() || INTEGRATION_REQUIRED
    ? describeWithNode()
    : (() => {
        console.warn(
          `chromium not found at ${CHROMIUM}: the dashboard browser test is skipped (apt-get install chromium, or CI=true to require it)`,
        );
        return describeWithNode().skip as ReturnType<typeof describeWithNode>;
      })();

describeWithBrowser('the dashboard in a real browser, against a service on Litecoin Core (regtest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-dashboard-'));
  let node: RegtestNode;
  let wallet: string;
  let app: CryptoAssets;
  let service: HelperService;
  let server: StatusServer;
  let base: string;
  let browser: BrowserContext;
  let desktop: Page;
  let phone: Page;

  async function status(): Promise<ServiceStatus> {
    return service.status();
  }

  /** The text a person reads in an element of the page as it is now (the page reloads itself). */
  async function seen(page: Page, selector: string): Promise<string> {
    try {
      return (await page.locator(selector).first().innerText({ timeout: 5_000 })).replace(/\s+/g, ' ').trim();
    } catch {
      return ''; // between two loads of the page
    }
  }

  /** Wait until the page, refreshing itself, shows `expected` in `selector`; returns the text. */
  async function until(page: Page, selector: string, expected: string | RegExp): Promise<string> {
    let last = '';
    const matches = (text: string) => (typeof expected === 'string' ? text.includes(expected) : expected.test(text));
    await waitUntil(
      async () => {
        last = await seen(page, selector);
        return matches(last);
      },
      SEEN_WITHIN_MS,
      `the dashboard to show ${String(expected)} in ${selector}`,
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; it showed: ${last.slice(0, 600)}`);
    });
    return last;
  }

  async function screenshots(name: string): Promise<void> {
    await desktop.screenshot({ path: join(OUTPUT, `${name}-desktop.png`), fullPage: true });
    await phone.screenshot({ path: join(OUTPUT, `${name}-phone.png`), fullPage: true });
  }

  async function readiness(): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
    const response = await fetch(`${base}/ready`);
    return { status: response.status, body: (await response.json()) as { ready: boolean; reasons: string[] } };
  }

  /** The value of one sample of /metrics, e.g. `cryptoassets_node_up{coin="ltc"}`. */
  async function metric(sample: string): Promise<number | undefined> {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? undefined : Number(line.slice(sample.length + 1));
  }

  async function balance(name: string): Promise<bigint> {
    return app.coin('ltc').read(async (book) => (await (await book.wallet('main')).getAccount(name)).balance);
  }

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    node = await RegtestNode.start();
    wallet = await node.createWallet('ledger');
    const config: Config = parseConfig({
      database: { url: `sqlite:${join(dir, 'ledger.sqlite')}` },
      coins: {
        ltc: {
          network: 'regtest',
          backend: { type: 'bitcoind', url: node.url, username: node.username, password: node.password, wallet, timeout_ms: 5_000 },
        },
      },
      status_server: { host: '127.0.0.1', port: 0, explorer_url: EXPLORER },
      service: { broadcast_period: 0.3, poll_period: 0.3, audit_period: 1, log_level: 'silent' },
    });
    app = await openFromConfig(config, { migrate: true });
    service = new HelperService(app, config, quiet, { leaseTtlMs: 20_000 });
    server = new StatusServer(service, '127.0.0.1', 0, quiet, { explorerUrl: config.statusServer.explorerUrl });
    await server.start();
    base = `http://127.0.0.1:${server.address.port}`;
    await service.start();
    const userDataDir = mkdtempSync(join(tmpdir(), 'cryptoassets-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      javaScriptEnabled: false,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    desktop = browser.pages()[0] ?? (await browser.newPage());
    phone = await browser.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await service?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('healthy: Ready, node reachable at its height, audit ok, deposit and broadcast linked to the explorer', async () => {
    const ltc = app.coin('ltc');
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const address = await ltc.createReceivingAddress('main', alice);
    const depositTxid = await node.fund(address.address, '1');
    await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => (await balance('alice')) === 100_000_000n, SEEN_WITHIN_MS, 'the deposit credited');
    const destination = await node.minerNewAddress();
    await ltc.transaction(async (book) => (await book.wallet('main')).withdraw(alice, destination, 10_000_000n));
    const sent = await waitUntilValue(async () => {
      const closed = await ltc.read(async (book) => (await book.wallet('main')).listBroadcasts(['closed']));
      return closed[0]?.txid ?? undefined;
    }, 'the withdrawal broadcast');
    await node.mine(1);
    const height = await node.height();
    await waitUntil(
      async () => {
        const now = await status();
        const coin = now.coins[0]!;
        // An audit taken while the broadcast was in flight is ok with a difference the broadcast
        // explains; the page is read once an audit after it shows none.
        return (
          now.readiness.ready &&
          coin.blockHeight === height &&
          coin.audit?.ok === true &&
          coin.audit.difference === '0' &&
          Date.parse(coin.audit.at) > Date.now() - 60_000
        );
      },
      SEEN_WITHIN_MS,
      'the service ready at the new height',
    );

    const response = await desktop.goto(`${base}/`);
    expect(response!.headers()['content-security-policy']).toContain("default-src 'none'");
    await phone.goto(`${base}/`);
    for (const page of [desktop, phone]) {
      expect(await until(page, '#headline', 'Ready')).not.toContain('Not ready');
      expect(await seen(page, '#coin-ltc .node')).toBe('reachable');
      expect(await until(page, '#coin-ltc .tip', String(height))).toMatch(new RegExp(`^${height} \\(new \\d+ s ago\\)$`));
      expect(await seen(page, '#coin-ltc .audit')).toMatch(/^ok \d+ s ago \(node − books = 0 base units\)$/);
      const deposits = await seen(page, '#wallet-ltc-main .deposits');
      expect(deposits).toContain('credited');
      expect(deposits).toContain('1.00000000');
      expect(await page.locator('#wallet-ltc-main .deposits a').first().getAttribute('href')).toBe(EXPLORER.replace('{txid}', depositTxid));
      expect(await seen(page, '#wallet-ltc-main .broadcasts')).toContain('closed');
      expect(await page.locator('#wallet-ltc-main .broadcasts a').first().getAttribute('href')).toBe(EXPLORER.replace('{txid}', sent));
      expect(await seen(page, '#wallet-ltc-main .pending')).toBe('No withdrawal waits.');
    }
    // Reads well on a phone: nothing wider than the screen (wide tables scroll inside their box).
    const widths = await phone.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document
        .documentElement;
      return { page: root.scrollWidth, screen: root.clientWidth };
    });
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
    expect(await readiness()).toEqual({ status: 200, body: expect.objectContaining({ ready: true, reasons: [] }) });
    expect(await metric('cryptoassets_ready')).toBe(1);
    expect(await metric('cryptoassets_block_height{coin="ltc"}')).toBe(height);
    expect(await metric('cryptoassets_pending_withdrawals{coin="ltc",wallet="main"}')).toBe(0);
    expect(await metric('cryptoassets_deposits_credited_total{coin="ltc"}')).toBe(1);
    expect(await metric('cryptoassets_withdrawals_broadcast_total{coin="ltc"}')).toBe(1);
    expect(await metric('process_resident_memory_bytes')).toBeGreaterThan(0);
    await screenshots('1-healthy');
  });

  it('node down: Not ready, the node unreachable', async () => {
    await node.shutdown();
    try {
      for (const page of [desktop, phone]) {
        expect(await until(page, '#headline', 'Not ready')).toContain('Not ready');
        expect(await until(page, '#reasons', 'ltc: the node is unreachable')).toContain('ltc: the node is unreachable');
        expect(await seen(page, '#coin-ltc .node')).toMatch(/^unreachable: /);
      }
      const ready = await readiness();
      expect(ready.status).toBe(503);
      expect(ready.body.reasons.some((reason) => reason.startsWith('ltc: the node is unreachable'))).toBe(true);
      expect(await metric('cryptoassets_node_up{coin="ltc"}')).toBe(0);
      expect(await metric('cryptoassets_ready')).toBe(0);
      await screenshots('2-node-down');
    } finally {
      await node.restart();
    }
    for (const page of [desktop, phone]) await until(page, '#headline', /^Ready/);
  });

  it('withdrawal refused: Not ready, the refused withdrawal named with what to do', async () => {
    const ltc = app.coin('ltc');
    // Alice's whole balance: the node wallet holds exactly that, and cannot add the fee.
    const all = await balance('alice');
    const refused = await ltc.transaction(async (book) => {
      const main = await book.wallet('main');
      return main.withdraw(await main.getAccount('alice'), await node.minerNewAddress(), all);
    });
    await waitUntil(
      async () => (await status()).coins[0]!.wallets[0]!.refusedWithdrawals.includes(refused.id),
      SEEN_WITHIN_MS,
      'the node refusing the withdrawal',
    );
    const reason = `ltc/main: withdrawal ${refused.id} refused by the node, waits for a person`;
    for (const page of [desktop, phone]) {
      await until(page, '#headline', 'Not ready');
      expect(await until(page, '#reasons', reason)).toContain(reason);
      expect(await seen(page, '#wallet-ltc-main .attention')).toContain(
        `refused withdrawals: ${refused.id} (retry-withdrawal or cancel-withdrawal)`,
      );
      const table = await seen(page, '#wallet-ltc-main .refused');
      expect(table).toContain(`${refused.id} ${formatAmount(all, LTC)} insufficient_funds`);
    }
    expect((await readiness()).body.reasons).toContain(reason);
    expect(await metric('cryptoassets_refused_withdrawals{coin="ltc",wallet="main"}')).toBe(1);
    expect(await metric('cryptoassets_withdrawals_refused_total{coin="ltc"}')).toBe(1);
    await screenshots('3-withdrawal-refused');
    // An operator cancels it: the refund is booked and the page is ready again.
    await ltc.transaction(async (book) => (await book.wallet('main')).cancelWithdrawal(refused.id));
    for (const page of [desktop, phone]) await until(page, '#headline', /^Ready/);
  });

  it('audit failing: Not ready, the balance audit FAILED with the shortfall', async () => {
    // Money leaves the node wallet outside the ledger.
    await node.walletRpc(wallet, 'sendtoaddress', await node.minerNewAddress(), new JsonNumber('0.2'));
    await node.mine(1);
    for (const page of [desktop, phone]) {
      expect(await until(page, '#headline', 'Not ready')).toContain('Not ready');
      expect(await until(page, '#reasons', 'ltc: the balance audit failed')).toContain('ltc: the balance audit failed');
      expect(await seen(page, '#coin-ltc .audit')).toMatch(/^FAILED \d+ s ago: /);
    }
    const ready = await readiness();
    expect(ready.status).toBe(503);
    expect(ready.body.reasons.some((reason) => reason.startsWith('ltc: the balance audit failed'))).toBe(true);
    expect(await metric('cryptoassets_balance_audit_ok{coin="ltc"}')).toBe(0);
    expect(await metric('cryptoassets_balance_audit_shortfall_base_units{coin="ltc"}')).toBeGreaterThan(20_000_000);
    await screenshots('4-audit-failing');
  });
});

async function waitUntilValue<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  let value: T | undefined;
  await waitUntil(
    async () => {
      value = await read();
      return value !== undefined;
    },
    SEEN_WITHIN_MS,
    what,
  );
  return value!;
}
