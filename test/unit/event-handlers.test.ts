/**
 * Event handlers against real things: a local node:http server for webhooks, real shell scripts
 * for the script handler, real modules on disk for the in-process handler.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHandler,
  EventDeliveryError,
  EventHandlerLoadError,
  InProcessHandler,
  ScriptHandler,
  signPayload,
  verifySignature,
  WebhookHandler,
} from '../../src/events/handlers/index.js';
import type { CryptoAssetsEvent } from '../../src/events/types.js';

const EVENT = JSON.parse(
  readFileSync(new URL('../fixtures/events/txupdate-deposit-credited.json', import.meta.url), 'utf8'),
) as CryptoAssetsEvent;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const SECRET = 'whsec-3b1f9c0e-never-in-messages';

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------
// Webhook

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    ),
  );
});

/** A local server that records each request and answers with `answer`. */
async function startServer(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ base: string; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, received };
}

/** A port nothing listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const NOW_MS = 1_715_679_137_412;
const NOW_S = 1_715_679_137;

describe('WebhookHandler', () => {
  it('POSTs the event as JSON with exact headers and a verifiable signature', async () => {
    const { base, received } = await startServer((_req, res) => res.writeHead(204).end());
    const handler = new WebhookHandler(
      'app',
      { url: `${base}/hooks/events`, secret: SECRET, timeoutMs: 5_000, maxAttempts: 7 },
      { now: () => NOW_MS },
    );

    await expect(handler.deliver(EVENT)).resolves.toBeUndefined();

    expect(handler.name).toBe('app');
    expect(handler.maxAttempts).toBe(7);
    expect(received).toHaveLength(1);
    const request = received[0]!;
    const body = JSON.stringify(EVENT);
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hooks/events');
    expect(request.body).toBe(body);
    expect(JSON.parse(request.body)).toEqual(EVENT);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(request.headers['user-agent']).toBe(`cryptoassets/${VERSION}`);
    expect(request.headers['cryptoassets-event-id']).toBe('1042');
    expect(request.headers['cryptoassets-event-name']).toBe('txupdate');
    expect(request.headers.authorization).toBeUndefined();

    // The recipe from docs/events.md, computed independently of the library.
    const hmac = createHmac('sha256', SECRET).update(`${NOW_S}.${body}`).digest('hex');
    expect(request.headers['cryptoassets-signature']).toBe(`t=${NOW_S},v1=${hmac}`);
    expect(request.headers['cryptoassets-signature']).toBe(signPayload(SECRET, body, NOW_S));
    expect(verifySignature(SECRET, request.body, request.headers['cryptoassets-signature'], { now: NOW_S + 10 })).toEqual({
      ok: true,
      timestamp: NOW_S,
    });
  });

  it('sends no signature without a secret, and credentials from the URL as basic auth', async () => {
    const { base, received } = await startServer((_req, res) => res.writeHead(200).end('thanks'));
    const handler = new WebhookHandler('plain', {
      url: base.replace('http://', 'http://shop:p%40ss@') + '/in',
      timeoutMs: 5_000,
      maxAttempts: 3,
    });

    await handler.deliver(EVENT);

    expect(received[0]!.headers['cryptoassets-signature']).toBeUndefined();
    expect(received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('shop:p@ss').toString('base64')}`);
    expect(received[0]!.url).toBe('/in');
  });

  it('fails on 500, naming the status and the start of the answer, never the secret or the query', async () => {
    const { base } = await startServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down\n'));
    const handler = new WebhookHandler('app', { url: `${base}/events?token=abc123`, secret: SECRET, timeoutMs: 5_000, maxAttempts: 12 });

    const error = await rejection(handler.deliver(EVENT));

    expect(error).toBeInstanceOf(EventDeliveryError);
    expect(error.message).toBe(`webhook "app": ${base}/events?… answered 500 Internal Server Error: database is down`);
    expect((error as EventDeliveryError).code).toBe('event_delivery_failed');
    expect((error as EventDeliveryError).handler).toBe('app');
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
    expect(inspect(error, { depth: 10 })).not.toContain('abc123');
  });

  it('fails on a hanging server within about the time limit', async () => {
    const { base } = await startServer(() => undefined); // never answers
    const handler = new WebhookHandler('app', { url: `${base}/slow`, secret: SECRET, timeoutMs: 300, maxAttempts: 12 });

    const started = performance.now();
    const error = await rejection(handler.deliver(EVENT));
    const elapsed = performance.now() - started;

    expect(error.message).toBe(`webhook "app": no answer from ${base}/slow within 300 ms`);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2_000);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });

  it('does not follow a 301: it is a failure that names the target', async () => {
    const { base, received } = await startServer((_req, res) => res.writeHead(301, { location: '/elsewhere?k=v' }).end());
    const handler = new WebhookHandler('app', { url: `${base}/events`, secret: SECRET, timeoutMs: 5_000, maxAttempts: 12 });

    const error = await rejection(handler.deliver(EVENT));

    expect(error.message).toBe(
      `webhook "app": ${base}/events answered 301 Moved Permanently, a redirect to ${base}/elsewhere?…; ` +
        'redirects are not followed, configure the final URL',
    );
    expect(received.map((request) => request.url)).toEqual(['/events']);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });

  it('fails when the connection is refused', async () => {
    const port = await freePort();
    const handler = new WebhookHandler('app', { url: `http://127.0.0.1:${port}/`, secret: SECRET, timeoutMs: 5_000, maxAttempts: 12 });

    const error = await rejection(handler.deliver(EVENT));

    expect(error.message).toBe(`webhook "app": cannot reach http://127.0.0.1:${port}/: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });

  it('counts every 2xx as delivered and a 4xx as failed', async () => {
    let status = 202;
    const { base } = await startServer((_req, res) => res.writeHead(status).end());
    const handler = new WebhookHandler('app', { url: base, timeoutMs: 5_000, maxAttempts: 12 });

    await expect(handler.deliver(EVENT)).resolves.toBeUndefined();
    status = 299;
    await expect(handler.deliver(EVENT)).resolves.toBeUndefined();
    status = 404;
    await expect(handler.deliver(EVENT)).rejects.toThrow(`webhook "app": ${base}/ answered 404 Not Found`);
  });
});

describe('signPayload and verifySignature', () => {
  const body = JSON.stringify(EVENT);
  const header = signPayload(SECRET, body, NOW_S);

  it('accepts the signature within the tolerance, for text and bytes alike', () => {
    expect(verifySignature(SECRET, body, header, { now: NOW_S })).toEqual({ ok: true, timestamp: NOW_S });
    expect(verifySignature(SECRET, Buffer.from(body), header, { now: NOW_S + 300 })).toEqual({ ok: true, timestamp: NOW_S });
    expect(verifySignature(SECRET, body, header, { now: NOW_S - 300 })).toEqual({ ok: true, timestamp: NOW_S });
    expect(verifySignature(SECRET, body, header, { now: NOW_S + 30, toleranceSeconds: 30 })).toEqual({ ok: true, timestamp: NOW_S });
  });

  it('names why a signature is refused', () => {
    const v1 = header.split('v1=')[1]!;
    expect(verifySignature(SECRET, body, undefined, { now: NOW_S })).toEqual({ ok: false, reason: 'missing' });
    expect(verifySignature(SECRET, body, '', { now: NOW_S })).toEqual({ ok: false, reason: 'missing' });
    expect(verifySignature(SECRET, body, 'sha256=abc', { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, body, `v1=${v1}`, { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, body, `t=${NOW_S}`, { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, body, `t=soon,v1=${v1}`, { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, body, `t=${NOW_S},v1=${v1.slice(2)}`, { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, body, `t=${NOW_S},t=${NOW_S},v1=${v1}`, { now: NOW_S })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature('other-secret', body, header, { now: NOW_S })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(SECRET, body.replace('120000', '920000'), header, { now: NOW_S })).toEqual({ ok: false, reason: 'mismatch' });
    // The timestamp is signed: moving it forward breaks the signature.
    expect(verifySignature(SECRET, body, `t=${NOW_S + 1},v1=${v1}`, { now: NOW_S })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(SECRET, body, header, { now: NOW_S + 301 })).toEqual({ ok: false, reason: 'expired' });
    expect(verifySignature(SECRET, body, header, { now: NOW_S - 301 })).toEqual({ ok: false, reason: 'expired' });
  });

  it('matches the worked example in docs/events.md', () => {
    expect(signPayload('whsec_example', '{"id":"1","name":"txupdate"}', 1715679137)).toBe(
      't=1715679137,v1=588f5ff07228b862142232039a3b95a5d3fc1ab55a0c0ee345ec1a7c8f335b8d',
    );
  });

  it('accepts any matching v1 and ignores unknown schemes', () => {
    const other = signPayload('old-secret', body, NOW_S).split('v1=')[1]!;
    const mine = header.split('v1=')[1]!;
    expect(verifySignature(SECRET, body, `t=${NOW_S},v2=zzz,v1=${other},v1=${mine}`, { now: NOW_S })).toEqual({
      ok: true,
      timestamp: NOW_S,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Script

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'cryptoassets-event-handlers-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let scriptCount = 0;
/** Writes an executable `#!/bin/sh` script and returns its path. */
async function script(body: string): Promise<string> {
  const path = join(scratch, `script-${++scriptCount}.sh`);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** A process is gone when /proc has no entry for it or only a zombie (PID 1 may not reap in a container). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('ScriptHandler', () => {
  it('gives the event in the environment and on stdin, and succeeds on exit 0', async () => {
    const out = await mkdtemp(join(scratch, 'out-'));
    const command = await script(
      [
        'printf "%s" "$CRYPTOASSETS_EVENT_NAME" > "$OUT_DIR/name"',
        'printf "%s" "$CRYPTOASSETS_EVENT_ID" > "$OUT_DIR/id"',
        'printf "%s" "$CRYPTOASSETS_EVENT_DATA" > "$OUT_DIR/data"',
        'cat > "$OUT_DIR/stdin"',
        'echo "handled $CRYPTOASSETS_EVENT_ID"',
      ].join('\n'),
    );
    const handler = new ScriptHandler('hook', { command, timeoutMs: 10_000, maxAttempts: 5 }, { env: { ...process.env, OUT_DIR: out } });

    await expect(handler.deliver(EVENT)).resolves.toBeUndefined();

    expect(handler.maxAttempts).toBe(5);
    expect(await readFile(join(out, 'name'), 'utf8')).toBe('txupdate');
    expect(await readFile(join(out, 'id'), 'utf8')).toBe('1042');
    const data = await readFile(join(out, 'data'), 'utf8');
    expect(data).toBe(JSON.stringify(EVENT));
    expect(JSON.parse(data)).toEqual(EVENT);
    const stdin = await readFile(join(out, 'stdin'), 'utf8');
    expect(stdin).toBe(`${JSON.stringify(EVENT)}\n`);
    expect(JSON.parse(stdin)).toEqual(EVENT);
  });

  it('fails on exit code 3 with the code and the last 500 bytes of stderr', async () => {
    const command = await script(
      [
        'i=0',
        'while [ $i -lt 100 ]; do printf "noise-line-%03d\\n" $i >&2; i=$((i+1)); done',
        'echo "fatal: cannot reach the shop database" >&2',
        'exit 3',
      ].join('\n'),
    );
    const handler = new ScriptHandler('hook', { command, timeoutMs: 10_000, maxAttempts: 5 });

    const error = await rejection(handler.deliver(EVENT));

    const stderr =
      Array.from({ length: 100 }, (_, i) => `noise-line-${String(i).padStart(3, '0')}\n`).join('') +
      'fatal: cannot reach the shop database\n';
    const tail = stderr.slice(stderr.length - 500).trim();
    expect(tail.endsWith('noise-line-099\nfatal: cannot reach the shop database')).toBe(true);
    expect(error).toBeInstanceOf(EventDeliveryError);
    expect(error.message).toBe(`script "hook": ${command} exited with code 3; stderr: ${tail}`);
  });

  it('quotes stdout when stderr is empty, and reports a signal', async () => {
    const quiet = await script('echo "order 77 not found"\nexit 1');
    const killed = await script('kill -KILL $$');
    const handler = (command: string) => new ScriptHandler('hook', { command, timeoutMs: 10_000, maxAttempts: 5 });

    await expect(handler(quiet).deliver(EVENT)).rejects.toThrow(`script "hook": ${quiet} exited with code 1; stdout: order 77 not found`);
    await expect(handler(killed).deliver(EVENT)).rejects.toThrow(`script "hook": ${killed} was killed by signal SIGKILL; no output`);
  });

  it('kills a script that overruns its time limit, and what it started', async () => {
    const out = await mkdtemp(join(scratch, 'out-'));
    // The shell waits on a child; killing only the shell would leave `sleep` holding the pipes.
    const command = await script('sleep 30 &\necho $! > "$OUT_DIR/child"\nwait');
    const handler = new ScriptHandler('hook', { command, timeoutMs: 300, maxAttempts: 5 }, { env: { ...process.env, OUT_DIR: out } });

    const started = performance.now();
    const error = await rejection(handler.deliver(EVENT));
    const elapsed = performance.now() - started;

    expect(error.message).toBe(`script "hook": ${command} did not finish within 300 ms and was stopped with SIGTERM; no output`);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2_000);
    const child = Number(await readFile(join(out, 'child'), 'utf8'));
    expect(child).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(child)).toBe(false);
  });

  it('escalates to SIGKILL when the script ignores SIGTERM', async () => {
    const command = await script("trap '' TERM\necho started >&2\nsleep 30");
    const handler = new ScriptHandler('hook', { command, timeoutMs: 200, maxAttempts: 5 }, { killGraceMs: 200 });

    const started = performance.now();
    const error = await rejection(handler.deliver(EVENT));

    expect(error.message).toBe(`script "hook": ${command} did not finish within 200 ms and was stopped with SIGKILL; stderr: started`);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('drains 50 MB of output without keeping it', async () => {
    // 50 pieces of 1 MiB with short pauses: the run lasts long enough for several samples.
    const command = await script(
      "i=0\nwhile [ $i -lt 50 ]; do head -c 1048576 /dev/zero; sleep 0.01; i=$((i+1)); done | tr '\\000' x\necho\necho 'the end'\nexit 1",
    );
    const handler = new ScriptHandler('hook', { command, timeoutMs: 60_000, maxAttempts: 5 });
    // Collect garbage before each sample, so that only memory still referenced is counted: chunks
    // already dropped would otherwise show up until the collector happens to run.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const live = () => {
      gc();
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.arrayBuffers;
    };
    const before = live();
    let peak = before;
    let samples = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, live());
      samples += 1;
    }, 100);

    const error = await rejection(handler.deliver(EVENT)).finally(() => clearInterval(sampler));

    // Keeping the output would hold up to 50 MB by the end; a bounded tail holds a few kilobytes.
    expect(samples).toBeGreaterThanOrEqual(3);
    expect(peak - before).toBeLessThan(8 * 1024 * 1024);
    const tail = `${'x'.repeat(500 - '\nthe end\n'.length)}\nthe end`;
    expect(error.message).toBe(`script "hook": ${command} exited with code 1; stdout: ${tail}`);
  });

  it('fails clearly when the command does not exist or is not executable', async () => {
    const missing = join(scratch, 'no-such-script');
    const notExecutable = join(scratch, 'not-executable.sh');
    await writeFile(notExecutable, '#!/bin/sh\nexit 0\n');
    await chmod(notExecutable, 0o644);
    const handler = (command: string) => new ScriptHandler('hook', { command, timeoutMs: 5_000, maxAttempts: 5 });

    await expect(handler(missing).deliver(EVENT)).rejects.toThrow(
      `script "hook": cannot run ${missing}: no such file (or not found on PATH)`,
    );
    await expect(handler(notExecutable).deliver(EVENT)).rejects.toThrow(
      `script "hook": cannot run ${notExecutable}: permission denied (is it executable?)`,
    );
  });

  it('close() stops a running script', async () => {
    const command = await script('sleep 30');
    const handler = new ScriptHandler('hook', { command, timeoutMs: 60_000, maxAttempts: 5 });
    const delivery = rejection(handler.deliver(EVENT));
    await new Promise((resolve) => setTimeout(resolve, 100));

    await handler.close();

    expect((await delivery).message).toBe(`script "hook": ${command} was killed by signal SIGKILL; no output`);
  });
});

// ---------------------------------------------------------------------------------------------
// In-process

describe('InProcessHandler', () => {
  it('calls a function with a private copy of the event', async () => {
    const got: CryptoAssetsEvent[] = [];
    const handler = new InProcessHandler('fn', (event) => {
      got.push(event);
      (event.data as { amount: string }).amount = 'changed';
    });

    await expect(handler.deliver(EVENT)).resolves.toBeUndefined();

    expect(handler.maxAttempts).toBe(12);
    expect(got).toHaveLength(1);
    expect(got[0]!.id).toBe('1042');
    expect(EVENT.data.amount).toBe('120000');
  });

  it('fails when the function throws or rejects', async () => {
    const throwing = new InProcessHandler(
      'fn',
      () => {
        throw new Error('ledger locked');
      },
      { maxAttempts: 4 },
    );
    const rejecting = new InProcessHandler('fn', async () => Promise.reject(new Error('try later')));

    const error = await rejection(throwing.deliver(EVENT));
    expect(error).toBeInstanceOf(EventDeliveryError);
    expect(error.message).toBe('in-process handler "fn" failed: ledger locked');
    expect(throwing.maxAttempts).toBe(4);
    await expect(rejecting.deliver(EVENT)).rejects.toThrow('in-process handler "fn" failed: try later');
  });

  describe('from configuration', () => {
    let dir: string;
    let modulePath: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cryptoassets-in-process-'));
      modulePath = join(dir, 'handlers.mjs');
      await writeFile(
        modulePath,
        [
          'export const received = [];',
          'export async function onEvent(event) { received.push(event.id); }',
          'export default function (event) { received.push(`default:${event.id}`); }',
          'export const notAFunction = 42;',
        ].join('\n'),
      );
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('imports the named export of a module by absolute path', async () => {
      const handler = await createHandler('mod', { type: 'in_process', module: modulePath, export: 'onEvent' });
      await handler.deliver(EVENT);

      const module = (await import(modulePath)) as { received: string[] };
      expect(handler).toBeInstanceOf(InProcessHandler);
      expect(handler.maxAttempts).toBe(12);
      expect(module.received).toContain('1042');
    });

    it('resolves ./ paths against baseDir and takes the default export', async () => {
      const handler = await InProcessHandler.load('mod', { module: './handlers.mjs' }, { baseDir: dir });
      await handler.deliver(EVENT);

      const module = (await import(modulePath)) as { received: string[] };
      expect(module.received).toContain('default:1042');
    });

    it('imports a package by name', async () => {
      // Any installed package will do: a bare specifier is imported as written.
      const handler = await InProcessHandler.load('pkg', { module: 'yaml', export: 'stringify' });
      await expect(handler.deliver(EVENT)).resolves.toBeUndefined();
    });

    it('names the module and the export when loading fails', async () => {
      const missingExport = await rejection(createHandler('mod', { type: 'in_process', module: modulePath, export: 'onDeposit' }));
      expect(missingExport).toBeInstanceOf(EventHandlerLoadError);
      expect((missingExport as EventHandlerLoadError).code).toBe('event_handler_load_failed');
      expect(missingExport.message).toBe(
        `in-process handler "mod": module ${JSON.stringify(modulePath)} has no export "onDeposit" ` +
          '(it exports "default", "notAFunction", "onEvent", "received")',
      );

      const notFunction = await rejection(createHandler('mod', { type: 'in_process', module: modulePath, export: 'notAFunction' }));
      expect(notFunction.message).toBe(
        `in-process handler "mod": export "notAFunction" of module ${JSON.stringify(modulePath)} is a number, not a function`,
      );

      const missingPath = join(dir, 'missing.mjs');
      const missingModule = await rejection(createHandler('mod', { type: 'in_process', module: missingPath, export: 'default' }));
      expect(missingModule).toBeInstanceOf(EventHandlerLoadError);
      expect(missingModule.message.startsWith(`in-process handler "mod": cannot import module ${JSON.stringify(missingPath)}: `)).toBe(
        true,
      );
      expect(existsSync(missingPath)).toBe(false);
    });
  });
});

describe('createHandler', () => {
  it('builds the handler each configuration type describes', async () => {
    const webhook = await createHandler('w', { type: 'webhook', url: 'https://example.com/hook', timeoutMs: 1_000, maxAttempts: 9 });
    const runner = await createHandler('s', { type: 'script', command: '/bin/true', timeoutMs: 1_000, maxAttempts: 8 });

    expect(webhook).toBeInstanceOf(WebhookHandler);
    expect([webhook.name, webhook.maxAttempts]).toEqual(['w', 9]);
    expect(runner).toBeInstanceOf(ScriptHandler);
    expect([runner.name, runner.maxAttempts]).toEqual(['s', 8]);
    await expect(runner.deliver(EVENT)).resolves.toBeUndefined();
  });
});
