/**
 * The application-side event receiver, over real HTTP: a standalone server from
 * `listenForEvents`, and the handler mounted in a plain node:http server that serves other paths.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEventReceiver,
  listenForEvents,
  MemoryDedupeStore,
  parseEvent,
  signPayload,
  type DedupeStore,
  type EventReceiverOptions,
  type EventReceiverServer,
} from '../../src/events/receiver/index.js';
import type { CryptoAssetsEvent } from '../../src/events/types.js';

const EVENT = JSON.parse(
  readFileSync(new URL('../fixtures/events/txupdate-deposit-credited.json', import.meta.url), 'utf8'),
) as CryptoAssetsEvent;
const SECRET = 'whsec-receiver-test';

const nowSeconds = () => Math.floor(Date.now() / 1000);

const running: EventReceiverServer[] = [];
const plainServers: Server[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
  await Promise.all(
    plainServers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    ),
  );
});

/** A receiver server whose onEvent records events; `fail` makes the next calls throw. */
async function start(options: Partial<EventReceiverOptions> = {}) {
  const events: CryptoAssetsEvent[] = [];
  const errors: unknown[] = [];
  const server = await listenForEvents({
    port: 0,
    secret: SECRET,
    onEvent: (event) => void events.push(event),
    onError: (error) => void errors.push(error),
    ...options,
  });
  running.push(server);
  return { server, events, errors };
}

interface SendOptions {
  secret?: string;
  timestamp?: number;
  signature?: string | null;
  method?: string;
  headers?: Record<string, string>;
}

/** POSTs `body` (an event is serialised) signed like the webhook handler signs. */
async function send(url: string, body: string | CryptoAssetsEvent, options: SendOptions = {}): Promise<{ status: number; text: string }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  const signature =
    options.signature === undefined ? signPayload(options.secret ?? SECRET, text, options.timestamp ?? nowSeconds()) : options.signature;
  if (signature !== null) headers['cryptoassets-signature'] = signature;
  const response = await fetch(url, { method: options.method ?? 'POST', headers, body: text });
  return { status: response.status, text: await response.text() };
}

describe('listenForEvents', () => {
  it('hands a correctly signed event to onEvent once', async () => {
    const { server, events } = await start();

    const answer = await send(server.url, EVENT);

    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(answer).toEqual({ status: 200, text: 'ok\n' });
    expect(events).toEqual([EVENT]);
  });

  it('answers 200 to a duplicate id without calling onEvent again', async () => {
    const { server, events } = await start();

    const first = await send(server.url, EVENT);
    const again = await send(server.url, EVENT);
    const next = await send(server.url, { ...EVENT, id: '1043' });

    expect([first, again, next]).toEqual([
      { status: 200, text: 'ok\n' },
      { status: 200, text: 'duplicate: already handled\n' },
      { status: 200, text: 'ok\n' },
    ]);
    expect(events.map((event) => event.id)).toEqual(['1042', '1043']);
  });

  it('refuses a wrong, expired or missing signature with 401', async () => {
    const { server, events } = await start();

    const wrongSecret = await send(server.url, EVENT, { secret: 'guessed' });
    const tampered = await send(server.url, JSON.stringify({ ...EVENT, data: { ...EVENT.data, amount: '99999999' } }), {
      signature: signPayload(SECRET, JSON.stringify(EVENT), nowSeconds()),
    });
    const replayed = await send(server.url, EVENT, { timestamp: nowSeconds() - 301 });
    const missing = await send(server.url, EVENT, { signature: null });
    const malformed = await send(server.url, EVENT, { signature: 'sha256=0123' });

    expect([wrongSecret, tampered, replayed, missing, malformed]).toEqual([
      { status: 401, text: 'signature mismatch\n' },
      { status: 401, text: 'signature mismatch\n' },
      { status: 401, text: 'signature expired\n' },
      { status: 401, text: 'signature missing\n' },
      { status: 401, text: 'signature malformed\n' },
    ]);
    expect(events).toEqual([]);
  });

  it('honours a custom tolerance', async () => {
    const { server, events } = await start({ toleranceSeconds: 30 });

    const late = await send(server.url, EVENT, { timestamp: nowSeconds() - 60 });
    const fresh = await send(server.url, EVENT, { timestamp: nowSeconds() - 5 });

    expect([late.status, fresh.status]).toEqual([401, 200]);
    expect(events).toHaveLength(1);
  });

  it('refuses malformed JSON and bodies that are not events with 400', async () => {
    const { server, events } = await start();
    const cases: [string, string][] = [
      ['{"id": "1042", "name": ', 'body is not valid JSON'],
      ['[1, 2]', 'body is not a JSON object'],
      [JSON.stringify({ ...EVENT, id: 1042 }), 'id must be a decimal string'],
      [JSON.stringify({ ...EVENT, id: '0042' }), 'id must be a decimal string'],
      [JSON.stringify({ ...EVENT, id: '12a' }), 'id must be a decimal string'],
      [JSON.stringify({ ...EVENT, name: '' }), 'name must be a non-empty string'],
      [JSON.stringify({ ...EVENT, createdAt: 'yesterday' }), 'createdAt must be an ISO 8601 timestamp'],
      [JSON.stringify({ ...EVENT, data: null }), 'data must be an object'],
      [JSON.stringify({ ...EVENT, data: [EVENT.data] }), 'data must be an object'],
    ];

    const answers = [];
    for (const [body] of cases) answers.push(await send(server.url, body));

    expect(answers).toEqual(cases.map(([, reason]) => ({ status: 400, text: `${reason}\n` })));
    expect(events).toEqual([]);
  });

  it('refuses oversized bodies with 413, declared or streamed', async () => {
    const { server, events } = await start({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ ...EVENT, data: { ...EVENT.data, wallet: 'w'.repeat(2_000) } });
    const signature = signPayload(SECRET, big, nowSeconds());

    const declared = await send(server.url, big, { signature });
    const streamed = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cryptoassets-signature': signature },
      body: new Blob([big]).stream(),
      duplex: 'half',
    });

    expect(declared).toEqual({ status: 413, text: 'body larger than 1024 bytes\n' });
    expect(streamed.status).toBe(413);
    expect(events).toEqual([]);
  });

  it('answers 413 as soon as a huge body is announced, without waiting for it', async () => {
    const { server } = await start();
    const socket = connect(server.port, '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });

    // Headers for 10 MB, then only a few bytes of body: a reader that waits for the body would hang.
    socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{"id":');
    const text = await answer;

    expect(text.startsWith('HTTP/1.1 413 Payload Too Large\r\n')).toBe(true);
    expect(text.endsWith('\r\n\r\nbody larger than 1048576 bytes\n')).toBe(true);
  });

  it('answers 405 to GET', async () => {
    const { server, events } = await start();

    const response = await fetch(server.url);

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.text()).toBe('method not allowed: events are POSTed\n');
    expect(events).toEqual([]);
  });

  it('answers 500 when onEvent throws and handles the redelivery', async () => {
    let failures = 1;
    const calls: string[] = [];
    const { server, errors } = await start({
      onEvent: (event) => {
        calls.push(event.id);
        if (failures-- > 0) throw new Error('database unavailable');
      },
    });

    const first = await send(server.url, EVENT);
    const retry = await send(server.url, EVENT);
    const duplicate = await send(server.url, EVENT);

    expect([first, retry, duplicate]).toEqual([
      { status: 500, text: 'the event was not handled; send it again\n' },
      { status: 200, text: 'ok\n' },
      { status: 200, text: 'duplicate: already handled\n' },
    ]);
    expect(calls).toEqual(['1042', '1042']);
    expect(errors.map((error) => (error as Error).message)).toEqual(['database unavailable']);
  });

  it('calls onEvent once when the same event arrives again while it is still being handled', async () => {
    const calls: string[] = [];
    const { server } = await start({
      onEvent: async (event) => {
        calls.push(event.id);
        await new Promise((resolve) => setTimeout(resolve, 150));
      },
    });

    const answers = await Promise.all([send(server.url, EVENT), send(server.url, EVENT)]);

    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.map((answer) => answer.text).sort()).toEqual(['duplicate: already handled\n', 'ok\n']);
    expect(calls).toEqual(['1042']);
  });

  it('uses a custom asynchronous dedupe store, marking an id only after onEvent succeeded', async () => {
    const stored = new Set<string>(['1041']);
    const log: string[] = [];
    const seen: DedupeStore = {
      has: async (id) => {
        log.push(`has ${id}`);
        return stored.has(id);
      },
      add: async (id) => {
        log.push(`add ${id}`);
        stored.add(id);
      },
    };
    const { server, events } = await start({ seen, onEvent: (event) => void log.push(`onEvent ${event.id}`) });

    const old = await send(server.url, { ...EVENT, id: '1041' });
    const fresh = await send(server.url, EVENT);

    expect([old.text, fresh.text]).toEqual(['duplicate: already handled\n', 'ok\n']);
    expect(log).toEqual(['has 1041', 'has 1042', 'onEvent 1042', 'add 1042']);
    expect([...stored]).toEqual(['1041', '1042']);
    expect(events).toEqual([]);
  });
});

describe('createEventReceiver mounted in an existing server', () => {
  /** A server with its own routes; `/webhooks/cryptoassets` goes to the receiver. */
  async function startApp(route: (req: IncomingMessage & { body?: unknown }) => Promise<void> = async () => undefined) {
    const events: CryptoAssetsEvent[] = [];
    const errors: unknown[] = [];
    const receiver = createEventReceiver({
      secret: SECRET,
      onEvent: (event) => void events.push(event),
      onError: (e) => void errors.push(e),
    });
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/health') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('healthy');
      if (path !== '/webhooks/cryptoassets') return void res.writeHead(404).end('no such page');
      route(req).then(
        () => receiver(req, res, (error) => void res.writeHead(599).end(String(error))),
        (error: unknown) => void res.writeHead(598).end(String(error)),
      );
    });
    plainServers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { base, events, errors };
  }

  /** What a body parser leaves behind: the stream consumed and `req.body` set. */
  function preRead(as: 'buffer' | 'string' | 'json') {
    return async (req: IncomingMessage & { body?: unknown }) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks);
      req.body = as === 'buffer' ? raw : as === 'string' ? raw.toString('utf8') : JSON.parse(raw.toString('utf8'));
    };
  }

  it('serves its own paths and receives events on its webhook path', async () => {
    const { base, events } = await startApp();

    const health = await fetch(`${base}/health`);
    const other = await fetch(`${base}/orders`);
    const good = await send(`${base}/webhooks/cryptoassets`, EVENT);
    const bad = await send(`${base}/webhooks/cryptoassets`, EVENT, { secret: 'nope' });

    expect([health.status, await health.text()]).toEqual([200, 'healthy']);
    expect(other.status).toBe(404);
    expect(good).toEqual({ status: 200, text: 'ok\n' });
    expect(bad).toEqual({ status: 401, text: 'signature mismatch\n' });
    expect(events).toEqual([EVENT]);
  });

  it('accepts a body already read as a Buffer (express.raw) or a string (express.text)', async () => {
    const asBuffer = await startApp(preRead('buffer'));
    const asString = await startApp(preRead('string'));

    const one = await send(`${asBuffer.base}/webhooks/cryptoassets`, EVENT);
    const two = await send(`${asString.base}/webhooks/cryptoassets`, EVENT);
    const forged = await send(`${asBuffer.base}/webhooks/cryptoassets`, { ...EVENT, id: '7' }, { secret: 'nope' });

    expect([one, two, forged]).toEqual([
      { status: 200, text: 'ok\n' },
      { status: 200, text: 'ok\n' },
      { status: 401, text: 'signature mismatch\n' },
    ]);
    expect(asBuffer.events).toEqual([EVENT]);
    expect(asString.events).toEqual([EVENT]);
  });

  it('answers 500 with the remedy when the body was already parsed as JSON', async () => {
    const { base, events } = await startApp(preRead('json'));

    const answer = await send(`${base}/webhooks/cryptoassets`, EVENT);

    expect(answer).toEqual({
      status: 500,
      text: 'the request body was already parsed; mount the receiver after express.raw({ type: "application/json" })\n',
    });
    expect(events).toEqual([]);
  });
});

describe('parts', () => {
  it('MemoryDedupeStore forgets the least recently used id beyond its capacity', () => {
    const store = new MemoryDedupeStore(3);
    store.add('1');
    store.add('2');
    store.add('3');
    expect(store.has('1')).toBe(true); // now the most recent
    store.add('4'); // evicts 2

    expect([store.has('1'), store.has('2'), store.has('3'), store.has('4')]).toEqual([true, false, true, true]);
    expect(store.size).toBe(3);
  });

  it('parseEvent accepts the fixture and keeps every field', () => {
    expect(parseEvent(JSON.stringify(EVENT))).toEqual({ ok: true, event: EVENT });
  });

  it('createEventReceiver refuses to run without a secret', () => {
    expect(() => createEventReceiver({ secret: '', onEvent: () => undefined })).toThrow(
      'createEventReceiver: secret is required (the webhook secret from the cryptoassets configuration)',
    );
  });
});
