/**
 * The logs of `cryptoassets service` as a process, on a real Litecoin regtest node: every
 * deposit credit and every broadcast (txid, outputs, fee) is logged once — the CLI hands its
 * logger to the ledger — and so is each change of the node's reachability; the lines are JSON
 * (stdout is not a terminal); and no secret of the configuration (the password in the database
 * URL, the node's RPC password, a webhook secret) appears in any line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CryptoAssets } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/load.js';
import { LTC } from '../../src/domain/coins.js';
import { openFromConfig } from '../../src/open-from-config.js';
import { createTestDatabase, INTEGRATION_REQUIRED, isPostgresReachable, type TestDatabase } from '../helpers/engines.js';
import { describeWithNode, freePort, RegtestNode, waitUntil } from '../helpers/regtest.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const DB_PASSWORD = 'Db-pw-5ecret-9183';
const WEBHOOK_SECRET = 'Hook-5ecret-2207';
const LONG_MS = 90_000;

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

describeWithNode()('service logs (process, Litecoin regtest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-service-logs-'));
  let node: RegtestNode;
  let database: TestDatabase | undefined;
  let databaseUrl: string;
  let child: ChildProcess;
  let output = '';
  let app: CryptoAssets;

  const lines = (): LogLine[] =>
    output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          throw new Error(`not a JSON log line: ${line}`);
        }
      });
  const logged = (msg: string) => lines().filter((line) => line.msg === msg);

  beforeAll(async () => {
    node = await RegtestNode.start();
    const wallet = await node.createWallet('ledger');
    if (INTEGRATION_REQUIRED || (await isPostgresReachable())) {
      database = await createTestDatabase('postgres');
      const url = new URL((database.options as { url: string }).url);
      url.password = DB_PASSWORD; // the test server trusts local connections: any password works
      databaseUrl = url.toString();
    } else {
      databaseUrl = `sqlite:${join(dir, 'ledger.sqlite')}`;
    }
    const config = join(dir, 'cryptoassets.yaml');
    writeFileSync(
      config,
      `database:
  url: "${databaseUrl}"
coins:
  ltc:
    network: regtest
    backend:
      type: bitcoind
      url: "${node.url}"
      username: "${node.username}"
      password: "${node.password}"
      wallet: "${wallet}"
      timeout_ms: 5000
events:
  app:
    type: webhook
    url: "http://127.0.0.1:${await freePort()}/events"
    secret: "${WEBHOOK_SECRET}"
    timeout_ms: 2000
status_server:
  host: 127.0.0.1
  port: 0
service:
  poll_period: 0.3
  broadcast_period: 0.3
  event_retry_base: 0.2
  lease_ttl: 20
  log_level: error
`,
    );
    // --log-level wins over the configuration's `error`: everything down to debug is logged.
    child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', '-c', config, '--initialize-database', '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: undefined, CRYPTOASSETS_LOG_LEVEL: 'warn' } as NodeJS.ProcessEnv,
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitUntil(async () => output.includes('first sync with the chain done'), LONG_MS, `the service to start; it wrote: ${output}`);
    app = await openFromConfig(await loadConfigFile(config));
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await app?.close().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await database?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs each credit, broadcast and reachability change once, as JSON, and never a secret', async () => {
    const ltc = app.coin('ltc');
    const alice = await ltc.transaction(async (book) => (await book.getOrCreateWallet('main')).getOrCreateAccount('alice'));
    const address = await ltc.createReceivingAddress('main', alice);
    const depositTxid = await node.fund(address.address, '1');
    await node.mine(LTC.confirmationThreshold);
    await waitUntil(async () => logged('deposit credited').length > 0, LONG_MS, 'the credit logged');

    const destination = await node.minerNewAddress();
    await ltc.transaction(async (book) => (await book.wallet('main')).withdraw(alice, destination, 12_345_678n));
    await waitUntil(async () => logged('broadcast sent').length > 0, LONG_MS, 'the broadcast logged');

    await node.shutdown();
    await waitUntil(async () => logged('the node does not answer').length > 0, LONG_MS, 'the node down logged');
    // A few more rounds while it is down: still logged once.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await node.restart();
    await waitUntil(async () => logged('the node answers again').length > 0, LONG_MS, 'the node back logged');

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c)),
    );
    expect(code).toBe(0);

    const all = lines(); // every line parses as JSON
    expect(logged('deposit credited')).toEqual([
      expect.objectContaining({ level: 'info', coin: 'ltc', txid: depositTxid, amount: '100000000' }),
    ]);
    const [sent, ...more] = logged('broadcast sent');
    expect(more).toEqual([]);
    expect(sent).toMatchObject({ level: 'info', coin: 'ltc', wallet: 'main', outputs: [{ address: destination, amount: '12345678' }] });
    expect(sent!.txid).toMatch(/^[0-9a-f]{64}$/);
    expect(sent!.fee).toMatch(/^\d+$/);
    expect(logged('the node does not answer')).toHaveLength(1);
    expect(logged('the node answers again')).toHaveLength(1);
    expect(logged('holding the service lease; running')).toHaveLength(1);
    expect(all.some((line) => line.level === 'debug' || line.level === 'info')).toBe(true); // --log-level beat env and config

    for (const secret of [node.password!, DB_PASSWORD, WEBHOOK_SECRET]) {
      expect(output.includes(secret), `a log line shows the secret ${secret.slice(0, 4)}…`).toBe(false);
    }
  });
});
