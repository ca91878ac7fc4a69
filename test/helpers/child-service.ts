/**
 * The helper service as a child process (`cryptoassets service -c FILE`), for tests that kill it
 * with SIGKILL, pause it with SIGSTOP or need a second process on the same database; and an
 * HTTP proxy in front of a node that can hold a chosen RPC call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** A running service process and everything it printed. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Output printed since `mark` (a length of `output()` taken earlier). */
  outputSince(mark: number): string;
  /** Resolves when the process has ended. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL and wait for the end (no-op when it already ended). */
  kill(): Promise<void>;
  /** SIGTERM and wait for the end. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `cryptoassets service -c config` with the given environment additions. */
export function startServiceProcess(config: string, env: Record<string, string | undefined> = {}): ServiceProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: undefined, ...env },
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    pid: child.pid!,
    output: () => output,
    outputSince: (mark) => output.slice(mark),
    exited: () => ended,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await ended;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return ended;
    },
  };
}

/** One RPC request that went through the proxy. */
export interface ProxiedCall {
  readonly methods: readonly string[];
  readonly at: number;
}

/**
 * An HTTP proxy in front of a node's JSON-RPC port. Every request is recorded (its JSON-RPC
 * method names). `holdNext(method)` makes the next request holding that method wait, unforwarded,
 * until the returned `release()` is called; `held` resolves when such a request arrived.
 */
export class RpcProxy {
  readonly calls: ProxiedCall[] = [];
  private server: Server | undefined;
  private trap: { method: string; arrived: () => void; gate: Promise<void> } | undefined;

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const target = new URL(this.target);
    this.server = createServer((incoming, outgoing) => {
      void (async () => {
        const body = await readBody(incoming);
        const methods = methodsOf(body);
        this.calls.push({ methods, at: Date.now() });
        const trap = this.trap;
        if (trap && methods.includes(trap.method)) {
          this.trap = undefined;
          trap.arrived();
          await trap.gate;
        }
        const forwarded = httpRequest(
          { host: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
          (answer) => {
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
          },
        );
        forwarded.on('error', () => outgoing.destroy());
        forwarded.end(body);
      })();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Hold the next request that calls `method`; see the class comment. */
  holdNext(method: string): { held: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (arrived = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.trap = { method, arrived, gate };
    return { held, release };
  }

  /** Requests that called `method` at or after `since` (Date.now()). */
  count(method: string, since = 0): number {
    return this.calls.filter((call) => call.at >= since && call.methods.includes(method)).length;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function readBody(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => resolve(Buffer.concat(chunks)));
    incoming.on('error', reject);
  });
}

function methodsOf(body: Buffer): string[] {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    const items = Array.isArray(parsed) ? parsed : [parsed];
    return items.map((item) => String((item as { method?: unknown }).method));
  } catch {
    return [];
  }
}
