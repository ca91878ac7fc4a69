/**
 * The WebSocket side of a fake block.io notification server (`wss://n.block.io/`), on 127.0.0.1:
 * a client subscribes with `{"network", "type": "account", "api_key"}` and is answered
 * `{"status": "success"}` when the key and network are right, `{"status": "fail", "data":
 * {"error_message"}}` otherwise. Subscribed clients get `{"type": "ping"}` keep-alives and
 * transaction messages; sockets are dropped on demand.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { notificationData, type FakeTransaction } from './notification-data.js';

export interface SocketServerOptions {
  readonly apiKey: string;
  readonly network: string;
  /** Send a keep-alive ping to every subscriber this often, ms; 0 sends none unless asked. Default 0. */
  readonly pingEveryMs?: number;
}

export class FakeBlockioSocketServer {
  private server: WebSocketServer | undefined;
  private readonly subscribers = new Set<WebSocket>();
  private pinger: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  /** Connections accepted, subscriptions confirmed and refused, keep-alive pings sent, since the start. */
  connections = 0;
  pings = 0;
  subscriptions = 0;
  refusals = 0;
  /** While true, subscription requests get no answer at all (a server that accepts the socket and hangs). */
  ignoreSubscriptions = false;
  /** Every subscription message received, as parsed JSON (tests check what was sent). */
  readonly requests: unknown[] = [];

  constructor(private readonly options: SocketServerOptions) {}

  async start(): Promise<void> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    server.on('connection', (socket) => this.accept(socket));
    this.server = server;
    if (this.options.pingEveryMs) this.pinger = setInterval(() => this.ping(), this.options.pingEveryMs);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server!.address() as AddressInfo).port}/`;
  }

  /** `{"type":"ping"}` to every subscriber. */
  ping(): void {
    if (this.subscribers.size > 0) this.pings++;
    this.broadcast({ type: 'ping' });
  }

  /** A transaction message, as block.io sends for an `account` subscription. */
  sendTransaction(tx: FakeTransaction): void {
    this.broadcast({ type: 'account', data: notificationData(tx) });
  }

  /** Any message (malformed ones included) to every subscriber. */
  broadcast(message: unknown): void {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    for (const socket of this.subscribers) socket.send(text);
  }

  /** Cut every connection without a closing handshake, as a network failure would. */
  dropAll(): void {
    for (const socket of this.server?.clients ?? []) socket.terminate();
    this.subscribers.clear();
  }

  /** Resolves once `count` subscriptions have been confirmed in all. */
  async subscribed(count: number): Promise<void> {
    while (this.subscriptions < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async stop(): Promise<void> {
    clearInterval(this.pinger);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of server.clients) socket.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    this.connections++;
    socket.on('error', () => socket.terminate());
    socket.on('close', () => this.subscribers.delete(socket));
    socket.on('message', (data) => {
      let request: { network?: unknown; type?: unknown; api_key?: unknown };
      try {
        request = JSON.parse(String(data)) as typeof request;
      } catch {
        return void socket.send(JSON.stringify({ status: 'fail', data: { error_message: 'Invalid JSON.' } }));
      }
      this.requests.push(request);
      if (this.ignoreSubscriptions) return;
      if (request.type !== 'account' || request.api_key !== this.options.apiKey || request.network !== this.options.network) {
        this.refusals++;
        return void socket.send(JSON.stringify({ status: 'fail', data: { error_message: 'Invalid API Key or network.' } }));
      }
      this.subscribers.add(socket);
      this.subscriptions++;
      socket.send(JSON.stringify({ status: 'success' }));
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
}
