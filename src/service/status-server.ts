/**
 * The status server: 127.0.0.1:18881 by default, read-only.
 *
 * - `GET /status.json`: the service status as JSON;
 * - `GET /`: a dashboard of the same, server-rendered HTML that reloads itself every
 *   REFRESH_SECONDS (meta refresh: no script, so the strict CSP stays; every value escaped);
 * - `GET /metrics`: Prometheus metrics;
 * - `GET /health`: liveness: 200 while the process runs (running or standing by), 503 otherwise;
 * - `GET /ready`: readiness: 200 `{"ready":true}`, or 503 with the reasons (see `readinessReasons`).
 *
 * Pages read the database only, never the node, so reloading them cannot load the node.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LedgerLog } from '../ledger/coin-ledger.js';
import type { HelperService } from './helper-service.js';
import { renderDashboard } from './dashboard.js';

export interface StatusServerOptions {
  /** A block explorer's transaction page with `{txid}`: the dashboard links txids to it. */
  readonly explorerUrl?: string | null;
}

export class StatusServer {
  private server: Server | undefined;

  constructor(
    private readonly service: HelperService,
    private readonly host: string,
    private readonly port: number,
    private readonly log: LedgerLog,
    private readonly options: StatusServerOptions = {},
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
        send(
          response,
          200,
          'text/html; charset=utf-8',
          renderDashboard(await this.service.status(), { explorerUrl: this.options.explorerUrl ?? null }),
        );
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
        await this.service.status({ recent: false }); // sets the gauges that describe the books
        send(response, 200, this.service.metrics.registry.contentType, await this.service.metrics.registry.metrics());
        return;
      case '/health': {
        const state = this.service.currentState;
        const healthy = state === 'running' || state === 'standby';
        send(response, healthy ? 200 : 503, 'text/plain; charset=utf-8', `${state}\n`);
        return;
      }
      case '/ready': {
        const status = await this.service.status({ recent: false });
        const body = { ready: status.readiness.ready, state: status.state, reasons: status.readiness.reasons };
        send(response, body.ready ? 200 : 503, 'application/json', `${JSON.stringify(body, null, 2)}\n`);
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
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
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
