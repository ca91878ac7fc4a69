/**
 * The helper service as an operating-system process: killed with SIGKILL in the middle of
 * delivering events and restarted (no event lost; a repeat carries the same id), stopped with
 * SIGTERM (exit 0), and unable to start a critical part (exit 2).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import { randomTxid } from '../helpers/ledger.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const regtest = BTC.networks.regtest!;
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-service-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startService(config: string): ChildProcess & { output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: undefined },
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return Object.assign(child, { output: () => output });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the service process', () => {
  let receiver: Server;
  let receiverUrl: string;
  const deliveries: { id: string; body: string }[] = [];
  const database = join(dir, 'ledger.sqlite');
  let eventCount = 0;

  beforeAll(async () => {
    // A slow application: 40 ms per event, so the service is killed with deliveries under way.
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () =>
        setTimeout(() => {
          deliveries.push({ id: String(request.headers['cryptoassets-event-id']), body });
          response.writeHead(200).end();
        }, 40),
      );
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;

    // The application wrote events before the service ever ran: 20 deposits, 2 events each.
    const app = await CryptoAssets.open({
      database: { kind: 'sqlite', path: database },
      coins: [{ coin: BTC, network: regtest }],
      migrate: true,
    });
    const btc = app.coin('btc');
    const alice = await btc.transaction(async (book) => (await book.getOrCreateWallet('main')).createAccount('alice'));
    for (let i = 0; i < 20; i++) {
      const address = encodeAddress('p2wpkh', new Uint8Array(20).fill(i + 1), regtest);
      await btc.transaction((book) => book.getOrCreateWallet('main').then((wallet) => wallet.addReceivingAddress(alice, address)));
      const txid = randomTxid();
      await btc.transaction((book) => book.recordDeposit({ txid, confirmations: 0, outputs: [{ address, amount: 1_000n + BigInt(i) }] }));
      await btc.transaction((book) => book.recordDeposit({ txid, confirmations: 3, outputs: [{ address, amount: 1_000n + BigInt(i) }] }));
    }
    eventCount = 40;
    await app.close();
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  function writeConfig(name: string, extra = ''): string {
    const path = join(dir, name);
    writeFileSync(
      path,
      `database:
  url: "sqlite:${database}"
coins:
  btc:
    network: regtest
    backend: {type: memory}
${extra}events:
  app:
    type: webhook
    url: "${receiverUrl}"
    secret: "\${WEBHOOK_SECRET:-test-secret}"
    timeout_ms: 5000
status_server:
  enabled: false
service:
  poll_period: 0.1
  broadcast_period: 0.1
  event_retry_base: 0.05
  log_level: warn
`,
    );
    return path;
  }

  it('loses no event when killed with SIGKILL mid-delivery; repeats carry the same id', async () => {
    const config = writeConfig('service.yaml');
    const first = startService(config);
    await until(() => deliveries.length >= 5, 'some deliveries');
    first.kill('SIGKILL');
    expect((await exited(first)).signal).toBe('SIGKILL');
    const beforeRestart = deliveries.length;
    expect(beforeRestart).toBeLessThan(eventCount);

    const second = startService(config);
    await until(() => new Set(deliveries.map((d) => d.id)).size === eventCount, 'every event');
    const ids = deliveries.map((d) => Number(d.id));
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: eventCount }, (_, i) => i + 1)));
    // A repeat is the same event: same id, same body.
    const byId = new Map<string, string>();
    for (const { id, body } of deliveries) {
      if (byId.has(id)) expect(body).toBe(byId.get(id));
      byId.set(id, body);
    }
    // In order within each run: ids never go backwards except where the restart began again.
    const afterRestart = ids.slice(beforeRestart);
    expect(afterRestart).toEqual([...afterRestart].sort((a, b) => a - b));

    second.kill('SIGTERM');
    const stopped = await exited(second);
    expect(stopped.code, second.output()).toBe(0);
  });

  it('exits with 2 when a critical part cannot start', async () => {
    const taken = createNetServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const config = writeConfig('busy.yaml', `    walletnotify: {type: http, port: ${port}}\n`);
      const child = startService(config);
      const result = await exited(child);
      expect(result.code, child.output()).toBe(2);
      expect(child.output()).toContain('service stopped');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
