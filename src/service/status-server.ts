/**
 * The status server: 127.0.0.1:18881 by default, read-only.
 *
 * - `GET /status.json`: the service status as JSON;
 * - `GET /`: the same as an HTML page (every value escaped);
 * - `GET /metrics`: Prometheus metrics;
 * - `GET /health`: 200 while running or standing by, 503 otherwise.
 *
 * Pages read the database only, never the node, so reloading them cannot load the node.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LedgerLog } from '../ledger/coin-ledger.js';
import type { CoinStatus, HelperService, ServiceStatus } from './helper-service.js';

export class StatusServer {
  private server: Server | undefined;

  constructor(
    private readonly service: HelperService,
    private readonly host: string,
    private readonly port: number,
    private readonly log: LedgerLog,
  ) {}

  /** Bind; rejects when the address is taken. */
  async start(): Promise<void> {
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'status page failed');
        if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else response.end();
      });
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** The bound address (port 0 in the config picks a free one). */
  get address(): { host: string; port: number } {
    const address = this.server?.address() as AddressInfo | null;
    return { host: this.host, port: address?.port ?? this.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const path = new URL(request.url ?? '/', 'http://status').pathname;
    switch (path) {
      case '/status.json':
        send(response, 200, 'application/json', `${JSON.stringify(await this.service.status(), null, 2)}\n`);
        return;
      case '/':
        send(response, 200, 'text/html; charset=utf-8', renderHtml(await this.service.status()));
        return;
      case '/events': {
        const url = new URL(request.url ?? '/', 'http://status');
        const after = url.searchParams.get('after') ?? '0';
        const limit = Number(url.searchParams.get('limit') ?? '100');
        if (!/^\d{1,19}$/.test(after) || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
          send(response, 400, 'text/plain; charset=utf-8', 'after must be an event id, limit 1..1000\n');
          return;
        }
        send(response, 200, 'application/json', `${JSON.stringify(await this.service.eventsAfter(BigInt(after), limit))}\n`);
        return;
      }
      case '/metrics':
        send(response, 200, this.service.metrics.registry.contentType, await this.service.metrics.registry.metrics());
        return;
      case '/health': {
        const state = this.service.currentState;
        const healthy = state === 'running' || state === 'standby';
        send(response, healthy ? 200 : 503, 'text/plain; charset=utf-8', `${state}\n`);
        return;
      }
      default:
        send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }
}

function send(response: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    ...headers,
  });
  response.end(body);
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function row(cells: unknown[]): string {
  return `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`;
}

function auditText(audit: CoinStatus['audit']): string {
  if (!audit) return 'not run yet';
  if (audit.status !== 'checked') return `${audit.status} at ${audit.at}${audit.problems.length > 0 ? `: ${audit.problems.join('; ')}` : ''}`;
  return audit.ok
    ? `ok at ${audit.at} (node − books = ${audit.difference} base units, unaccounted ${audit.unaccounted})`
    : `FAILED at ${audit.at}: ${audit.problems.join('; ')}`;
}

function renderHtml(status: ServiceStatus): string {
  const coins = status.coins
    .map((coin) => {
      const wallets = coin.wallets
        .map((wallet) =>
          row([
            wallet.wallet,
            wallet.queuedWithdrawals,
            wallet.openBroadcasts.join(', ') || '—',
            wallet.broadcastsToVet.join(', ') || '—',
            wallet.refusedWithdrawals.join(', ') || '—',
            wallet.conflictedBroadcasts.join(', ') || '—',
            wallet.backoffUntil ?? '—',
          ]),
        )
        .join('');
      const listener = coin.listener
        ? `${coin.listener.kind} ${coin.listener.endpoint}: ${coin.listener.state}, ${coin.listener.received} received, last ${coin.listener.lastNotificationAt ?? 'never'}`
        : 'none configured';
      return `<h2>${escapeHtml(coin.coin)} (${escapeHtml(coin.network)}, ${escapeHtml(coin.backend)})</h2>
<table>
${row(['node reachable', coin.nodeReachable === null ? 'not yet known' : coin.nodeReachable ? 'yes' : `no: ${coin.lastNodeError ?? ''}`])}
${row(['block height', coin.blockHeight ?? 'unknown'])}
${row(['first sync with the chain', coin.startupRescanDone ? 'done' : 'pending'])}
${row(['chain cursor', coin.cursor ? `block ${coin.cursor.height} ${coin.cursor.hash}` : 'none yet (full scan pending)'])}
${row(['balance audit', auditText(coin.audit)])}
${row(['tracked transactions', coin.trackedTransactions])}
${row(['wallet notifications', listener])}
</table>
<table><tr><th>wallet</th><th>queued withdrawals</th><th>open broadcasts</th><th>broadcasts to vet</th><th>refused withdrawals</th><th>conflicted broadcasts</th><th>broadcasts paused until</th></tr>${wallets}</table>`;
    })
    .join('\n');
  const tasks = status.tasks.map((task) => row([task.name, task.runs, task.failures, task.lastRunAt ?? 'never', task.lastError ?? ''])).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cryptoassets status</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
</head><body>
<h1>cryptoassets helper service: ${escapeHtml(status.state)}</h1>
<p>instance ${escapeHtml(status.instance)}, started ${escapeHtml(status.startedAt ?? '')}; lease ${
    status.lease.held ? 'held' : `held by ${escapeHtml(status.lease.holder ?? 'nobody')}`
  }</p>
${coins}
<h2>events (latest id ${escapeHtml(status.events.latestId)})</h2>
<table><tr><th>handler</th><th>delivered up to</th><th>behind</th><th>attempts</th><th>next attempt</th><th>dead letters</th><th>last error</th></tr>${status.events.handlers
    .map((handler) => row([handler.name, handler.deliveredId, handler.behind, handler.attempts, handler.nextAttemptAt ?? '', handler.deadLetters, handler.lastError ?? '']))
    .join('')}</table>
<h2>tasks</h2>
<table><tr><th>task</th><th>runs</th><th>failures</th><th>last run</th><th>last error</th></tr>${tasks}</table>
</body></html>
`;
}
