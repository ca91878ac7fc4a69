import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { RpcClient, type RpcClientOptions } from '../../src/backends/bitcoind/rpc-client.js';
import { RpcError } from '../../src/backends/bitcoind/rpc-errors.js';
import { BackendError } from '../../src/domain/errors.js';

const PASSWORD = 'Sup3r-Secret-Pa55word';
const COOKIE_SECRET = 'c00k1e-5ecret-0123456789abcdef';

interface Seen {
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

type Handler = (request: Seen, response: ServerResponse, raw: IncomingMessage) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
let seen: Seen[];
/** Every error the tests provoke, checked at the end for leaked credentials. */
const errors: unknown[] = [];

beforeAll(async () => {
  server = createServer((raw, response) => {
    const chunks: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => chunks.push(chunk));
    raw.on('end', () => {
      const request = { url: raw.url ?? '', authorization: raw.headers.authorization, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(request);
      handler(request, response, raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // No provoked error may carry a credential, in its message or anywhere in its causes.
  const base64 = Buffer.from(`user:${PASSWORD}`).toString('base64');
  for (const error of errors) {
    const text = `${String((error as Error).message)}\n${inspect(error, { depth: 10 })}`;
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(base64);
    expect(text).not.toContain(COOKIE_SECRET);
  }
  expect(errors.length).toBeGreaterThan(10);
});

beforeEach(() => {
  seen = [];
  handler = (_request, response) => respondJson(response, 200, { result: null, error: null, id: 0 });
});

afterEach(() => {
  server.closeAllConnections();
});

function client(options: Partial<RpcClientOptions> = {}): RpcClient {
  return new RpcClient({
    url: baseUrl,
    auth: { kind: 'password', username: 'user', password: PASSWORD },
    timeoutMs: 2000,
    retry: { attempts: 3, baseDelayMs: 1 },
    ...options,
  });
}

function respondJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Answer each JSON-RPC call (or batch) with `answer(method, params, id)`. */
function rpcServer(answer: (method: string, params: unknown[], id: unknown) => { status?: number; body: string }): Handler {
  return (request, response) => {
    const parsed = JSON.parse(request.body) as { method: string; params: unknown[]; id: unknown };
    const reply = answer(parsed.method, parsed.params, parsed.id);
    response.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
    response.end(reply.body);
  };
}

async function failure(promise: Promise<unknown>): Promise<BackendError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (thrown: unknown) => thrown,
  );
  errors.push(error);
  expect(error).toBeInstanceOf(BackendError);
  return error as BackendError;
}

describe('RpcClient', () => {
  it('posts JSON-RPC 1.0 with Basic auth and keeps numbers exact', async () => {
    handler = rpcServer((method, params, id) => ({
      body: `{"result":{"balance":92233720368.54775807,"method":"${method}","n":${params.length}},"error":null,"id":${String(id)}}`,
    }));
    const result = (await client().call('getbalance', ['*', 1])) as { balance: JsonNumber; method: string; n: JsonNumber };
    expect(result.balance).toBeInstanceOf(JsonNumber);
    expect(result.balance.text).toBe('92233720368.54775807');
    expect(result.method).toBe('getbalance');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/');
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ jsonrpc: '1.0', method: 'getbalance', params: ['*', 1] });
  });

  it('sends JsonNumber parameters as bare numbers', async () => {
    handler = rpcServer((_method, _params, id) => ({ body: JSON.stringify({ result: 'ok', error: null, id }) }));
    await client().call('sendmany', ['', { addr: new JsonNumber('0.01000000') }, 1, 'comment']);
    expect(seen[0]!.body).toContain('{"addr":0.01000000}');
  });

  it('uses the wallet endpoint with the name URL-encoded', async () => {
    handler = rpcServer((_method, _params, id) => ({ body: JSON.stringify({ result: 1, error: null, id }) }));
    await client({ wallet: 'my wallet/ü?#' }).call('getwalletinfo');
    await client({ wallet: 'plain' }).forWallet('other one').call('getwalletinfo');
    await client({ wallet: 'plain' }).forWallet(undefined).call('getblockcount');
    expect(seen.map((request) => request.url)).toEqual(['/wallet/my%20wallet%2F%C3%BC%3F%23', '/wallet/other%20one', '/']);
  });

  it('refuses a URL with credentials in it', () => {
    expect(() => client({ url: `http://user:${PASSWORD}@127.0.0.1:1` })).toThrow(TypeError);
  });

  it('reports HTTP 401 as unauthorized, not retryable, without retrying a password', async () => {
    handler = (_request, response) => {
      response.writeHead(401);
      response.end();
    };
    const error = await failure(client().call('getblockcount', [], { idempotent: true }));
    expect(error).toMatchObject({ code: 'unauthorized', retryable: false });
    expect(seen).toHaveLength(1);
  });

  describe('cookie authentication', () => {
    let dir: string;
    let cookieFile: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'rpc-cookie-'));
      cookieFile = join(dir, '.cookie');
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** A node that accepts only the cookie `__cookie__:<accepted()>`. */
    function cookieNode(accepted: () => string): Handler {
      return (request, response) => {
        const expected = `Basic ${Buffer.from(`__cookie__:${accepted()}`).toString('base64')}`;
        if (request.authorization !== expected) {
          response.writeHead(401);
          response.end();
          return;
        }
        const { id } = JSON.parse(request.body) as { id: unknown };
        respondJson(response, 200, { result: 'fine', error: null, id });
      };
    }

    it('reads the cookie file, and reads it again once after a 401 (node restarted)', async () => {
      let current = `${COOKIE_SECRET}-1`;
      handler = cookieNode(() => current);
      writeFileSync(cookieFile, `__cookie__:${current}`);
      const rpc = client({ auth: { kind: 'cookie', cookieFile } });
      expect(await rpc.call('getblockcount')).toBe('fine');
      expect(seen).toHaveLength(1);

      // The node restarts and writes a new cookie: the next call fails once, re-reads, succeeds.
      current = `${COOKIE_SECRET}-2`;
      writeFileSync(cookieFile, `__cookie__:${current}\n`);
      // Not idempotent: a 401 proves the call was not run, so repeating it is safe anyway.
      expect(await rpc.call('sendmany', [])).toBe('fine');
      expect(seen).toHaveLength(3);

      // A client for another wallet shares the cached cookie.
      expect(await rpc.forWallet('w').call('getblockcount')).toBe('fine');
      expect(seen).toHaveLength(4);
    });

    it('gives up after one re-read when the cookie did not change', async () => {
      handler = cookieNode(() => 'something else');
      writeFileSync(cookieFile, `__cookie__:${COOKIE_SECRET}`);
      const error = await failure(client({ auth: { kind: 'cookie', cookieFile } }).call('getblockcount', [], { idempotent: true }));
      expect(error).toMatchObject({ code: 'unauthorized', retryable: false });
      expect(seen).toHaveLength(1);
    });

    it('treats a missing cookie file as a node that is down (retryable)', async () => {
      const error = await failure(client({ auth: { kind: 'cookie', cookieFile } }).call('getblockcount'));
      expect(error).toMatchObject({ code: 'node_unreachable', retryable: true });
      expect(error.message).toContain('.cookie');
      expect(seen).toHaveLength(0);
    });
  });

  it('reports "Work queue depth exceeded" as node_busy, retryable, and retries only idempotent calls', async () => {
    handler = (_request, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('Work queue depth exceeded');
    };
    const idempotent = await failure(client().call('getblockcount', [], { idempotent: true }));
    expect(idempotent).toMatchObject({ code: 'node_busy', retryable: true });
    expect(seen).toHaveLength(3);

    seen = [];
    const once = await failure(client().call('sendmany', []));
    expect(once).toMatchObject({ code: 'node_busy', retryable: true });
    expect(seen).toHaveLength(1);
  });

  it('recovers when a retried idempotent call succeeds', async () => {
    let calls = 0;
    handler = (request, response) => {
      if (++calls < 3) {
        response.writeHead(500);
        response.end('Work queue depth exceeded');
        return;
      }
      const { id } = JSON.parse(request.body) as { id: unknown };
      respondJson(response, 200, { result: 7, error: null, id });
    };
    const result = await client().call('getblockcount', [], { idempotent: true });
    expect(result).toEqual(new JsonNumber('7'));
    expect(seen).toHaveLength(3);
  });

  it('turns a JSON-RPC error (HTTP 500) into an RpcError with the numeric code, without retrying', async () => {
    handler = rpcServer((_method, _params, id) => ({
      status: 500,
      body: JSON.stringify({ result: null, error: { code: -6, message: 'Insufficient funds' }, id }),
    }));
    const error = await failure(client().call('sendmany', []));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      rpcCode: -6,
      rpcMessage: 'Insufficient funds',
      code: 'insufficient_funds',
      retryable: true,
      method: 'sendmany',
    });

    const codes: [number, string, boolean][] = [
      [-5, 'invalid_address_or_key', false],
      [-3, 'rpc_type_error', false],
      [-8, 'invalid_parameter', false],
      [-13, 'wallet_locked', false],
      [-14, 'wrong_passphrase', false],
      [-18, 'wallet_not_found', false],
      [-19, 'wallet_not_specified', false],
      [-28, 'node_warming_up', true],
      [-12345, 'rpc_error', false],
    ];
    for (const [rpcCode, code, retryable] of codes) {
      handler = rpcServer((_method, _params, id) => ({
        status: 500,
        body: JSON.stringify({ result: null, error: { code: rpcCode, message: 'm' }, id }),
      }));
      seen = [];
      const mapped = await failure(client().call('gettransaction', [], { idempotent: true }));
      expect(mapped, String(rpcCode)).toMatchObject({ rpcCode, code, retryable });
      expect(seen).toHaveLength(1);
    }
  });

  it('reports method not found (HTTP 404 with a JSON error) as RpcError -32601', async () => {
    handler = rpcServer((_method, _params, id) => ({
      status: 404,
      body: JSON.stringify({ result: null, error: { code: -32601, message: 'Method not found' }, id }),
    }));
    const error = await failure(client().call('nosuchmethod'));
    expect(error).toMatchObject({ rpcCode: -32601, code: 'method_not_found', retryable: false });
  });

  it('reports an HTTP 404 without JSON as a wrong endpoint', async () => {
    handler = (_request, response) => {
      response.writeHead(404);
      response.end();
    };
    expect(await failure(client({ wallet: 'x' }).call('getwalletinfo'))).toMatchObject({ code: 'endpoint_not_found', retryable: false });
  });

  it('reports bodies that are not JSON-RPC as garbage, not retryable', async () => {
    const bodies: [number, string][] = [
      [200, '<html>proxy error</html>'],
      [502, 'Bad Gateway'],
      [200, '{"foo":1}'],
      [200, '[1,2]'],
      [200, '{"result":1,"error":{"code":"x"},"id":1}'],
      [200, ''],
    ];
    for (const [status, body] of bodies) {
      handler = (_request, response) => {
        response.writeHead(status);
        response.end(body);
      };
      const error = await failure(client().call('getblockcount', [], { idempotent: true }));
      expect(error, body).toMatchObject({ code: 'garbage', retryable: false });
    }
  });

  it('reports an answer to another request id as garbage', async () => {
    handler = (_request, response) => respondJson(response, 200, { result: 1, error: null, id: 999_999 });
    expect(await failure(client().call('getblockcount'))).toMatchObject({ code: 'garbage' });
  });

  it('times out: retryable node_unreachable for idempotent calls, outcome_unknown for others', async () => {
    handler = () => {
      // Never answer.
    };
    const started = Date.now();
    const read = await failure(client({ timeoutMs: 150 }).call('getblockcount', [], { idempotent: true }));
    expect(read).toMatchObject({ code: 'node_unreachable', retryable: true });
    expect(read.message).toContain('150 ms');
    expect(seen).toHaveLength(3);

    seen = [];
    const send = await failure(client({ timeoutMs: 150 }).call('sendmany', ['', {}, 1, 'c']));
    expect(send).toMatchObject({ code: 'outcome_unknown', retryable: false });
    expect(seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5000);

    // A per-call limit overrides the client's.
    seen = [];
    const quick = await failure(client({ timeoutMs: 60_000 }).call('getblockcount', [], { timeoutMs: 100 }));
    expect(quick).toMatchObject({ code: 'outcome_unknown' });
  });

  it('gives every call a fresh connection, so a dead earlier one cannot make a send uncertain', async () => {
    handler = () => {
      // Never answer the first call; the server then drops every connection.
    };
    await failure(client({ timeoutMs: 100 }).call('getblockcount', [], { idempotent: true, timeoutMs: 100 }));
    server.closeAllConnections();
    handler = rpcServer((_method, _params, id) => ({ body: JSON.stringify({ result: 'b'.repeat(64), error: null, id }) }));
    const rpc = client();
    expect(await rpc.call('sendmany', ['', {}, 1, 'after a timeout'])).toBe('b'.repeat(64));
    expect(await rpc.call('sendmany', ['', {}, 1, 'again'])).toBe('b'.repeat(64));
  });

  it('can keep connections alive when asked to', async () => {
    const ports = new Set<number>();
    handler = (request, response, raw) => {
      ports.add(raw.socket.remotePort ?? 0);
      const { id } = JSON.parse(request.body) as { id: unknown };
      respondJson(response, 200, { result: 1, error: null, id });
    };
    const rpc = client({ keepAlive: true });
    for (let i = 0; i < 3; i++) await rpc.call('getblockcount');
    expect(ports.size).toBe(1);
    ports.clear();
    const fresh = client();
    for (let i = 0; i < 3; i++) await fresh.call('getblockcount');
    expect(ports.size).toBe(3);
  });

  it('reports a connection reset after sending like a timeout', async () => {
    handler = (_request, _response, raw) => raw.socket.destroy();
    const send = await failure(client().call('sendmany', []));
    expect(send).toMatchObject({ code: 'outcome_unknown', retryable: false });
    expect(seen).toHaveLength(1);
    seen = [];
    const read = await failure(client().call('getblockcount', [], { idempotent: true }));
    expect(read).toMatchObject({ code: 'node_unreachable', retryable: true });
    expect(seen).toHaveLength(3);
  });

  it('reports a refused connection as node_unreachable, retryable even for a send', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const rpc = client({ url: `http://127.0.0.1:${port}` });
    const send = await failure(rpc.call('sendmany', []));
    expect(send).toMatchObject({ code: 'node_unreachable', retryable: true });
    expect(send.message).toContain('ECONNREFUSED');
  });

  it('sends a batch in one request and matches answers by id, with errors per item', async () => {
    handler = (request, response) => {
      const calls = JSON.parse(request.body) as { id: number; method: string; params: unknown[] }[];
      const answers = calls.map((call) =>
        call.method === 'bad'
          ? { result: null, error: { code: -5, message: 'Invalid or non-wallet transaction id' }, id: call.id }
          : { result: call.params[0], error: null, id: call.id },
      );
      // Out of order, and without an answer for the method 'lost'.
      respondJson(
        response,
        200,
        answers.reverse().filter((_answer, index) => calls[calls.length - 1 - index]!.method !== 'lost'),
      );
    };
    const results = await client().batch([
      { method: 'echo', params: [1] },
      { method: 'bad', params: [] },
      { method: 'echo', params: ['two'] },
      { method: 'lost', params: [] },
    ]);
    expect(seen).toHaveLength(1);
    expect(results[0]).toEqual({ ok: true, result: new JsonNumber('1') });
    expect(results[1]).toMatchObject({ ok: false, error: { rpcCode: -5, code: 'invalid_address_or_key' } });
    expect(results[2]).toEqual({ ok: true, result: 'two' });
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'garbage' } });
    for (const result of results) if (!result.ok) errors.push(result.error);
    expect(await client().batch([])).toEqual([]);
  });

  it('throws the error of a batch that the node refused as a whole', async () => {
    handler = (_request, response) =>
      respondJson(response, 500, { result: null, error: { code: -32700, message: 'Parse error' }, id: null });
    expect(await failure(client().batch([{ method: 'a' }]))).toMatchObject({ rpcCode: -32700, code: 'rpc_parse_error' });
    handler = (_request, response) => respondJson(response, 200, { hello: 'world' });
    expect(await failure(client().batch([{ method: 'a' }]))).toMatchObject({ code: 'garbage' });
  });

  describe('answer size cap', () => {
    const KIB = 1024;
    const MIB = 1024 * KIB;

    it('abandons a streamed answer as soon as it passes the cap, holding no more than the cap', async () => {
      // An answer without Content-Length that would go on for 256 MiB; each chunk is the same
      // buffer, so the server itself allocates nothing while it writes.
      const chunk = Buffer.alloc(64 * KIB, 0x20);
      let written = 0;
      let serverDone: () => void;
      const finished = new Promise<void>((resolve) => {
        serverDone = resolve;
      });
      let peakExternal = 0;
      const sample = (): void => {
        const usage = process.memoryUsage();
        peakExternal = Math.max(peakExternal, usage.arrayBuffers + usage.heapUsed);
      };
      handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"result":"');
        const pump = (): void => {
          while (written < 256 * MIB && !response.destroyed) {
            written += chunk.length;
            sample();
            if (!response.write(chunk)) {
              response.once('drain', pump);
              return;
            }
          }
          response.end('"}');
        };
        response.on('close', () => serverDone());
        pump();
      };
      const before = process.memoryUsage();
      const baseline = before.arrayBuffers + before.heapUsed;
      const error = await failure(
        client({ maxAnswerBytes: MIB, timeoutMs: 20_000 }).call('listsinceblock', ['', 1, true], { idempotent: true }),
      );
      await finished;
      sample();
      expect(error).toMatchObject({ code: 'answer_too_large', retryable: false });
      expect(error.message).toContain('max_answer_bytes (1048576)');
      expect(seen).toHaveLength(1); // not retried: the same call gets the same answer
      // What the server got into the connection before it was dropped: the cap plus socket buffers.
      expect(written).toBeLessThan(32 * MIB);
      expect(peakExternal - baseline).toBeLessThan(64 * MIB);
      console.info(
        `answer cap 1 MiB: server wrote ${(written / MIB).toFixed(1)} MiB before the client dropped it; peak memory +${((peakExternal - baseline) / MIB).toFixed(1)} MiB`,
      );
    });

    it('refuses an answer whose Content-Length passes the cap without reading it', async () => {
      handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * MIB) });
        response.write('{"result":'); // and then nothing: only the header can end this quickly
      };
      const started = performance.now();
      const error = await failure(client({ maxAnswerBytes: MIB, timeoutMs: 10_000 }).call('listsinceblock', [], { idempotent: true }));
      expect(error).toMatchObject({ code: 'answer_too_large', retryable: false });
      expect(error.message).toContain(`announced ${10 * 1024 * MIB} bytes`);
      expect(performance.now() - started).toBeLessThan(2000);
    });

    it('reads an answer of exactly the cap, and refuses one byte more', async () => {
      const padded = (id: unknown, size: number): string => {
        const body = JSON.stringify({ result: 'fits', error: null, id });
        return body + ' '.repeat(size - Buffer.byteLength(body));
      };
      handler = rpcServer((_method, _params, id) => ({ body: padded(id, KIB) }));
      expect(await client({ maxAnswerBytes: KIB }).call('getblockcount')).toBe('fits');
      handler = rpcServer((_method, _params, id) => ({ body: padded(id, KIB + 1) }));
      expect(await failure(client({ maxAnswerBytes: KIB }).call('getblockcount'))).toMatchObject({ code: 'answer_too_large' });
      expect(() => client({ maxAnswerBytes: 0 })).toThrow(RangeError);
    });
  });

  describe('send deadline (notAfter)', () => {
    it('refuses a call whose deadline has passed without opening a connection', async () => {
      let connections = 0;
      const count = (): void => {
        connections++;
      };
      server.on('connection', count);
      try {
        const error = await failure(client().call('sendmany', ['', {}, 1, 'late'], { notAfter: performance.now() - 1 }));
        expect(error).toMatchObject({ code: 'deadline_passed', retryable: true });
        // An idempotent call is not retried after it either: the deadline does not come back.
        const read = await failure(client().call('getblockcount', [], { idempotent: true, notAfter: performance.now() - 1 }));
        expect(read).toMatchObject({ code: 'deadline_passed' });
      } finally {
        server.off('connection', count);
      }
      expect(connections).toBe(0);
      expect(seen).toHaveLength(0);
      // A deadline still ahead lets the call through.
      handler = rpcServer((_method, _params, id) => ({ body: JSON.stringify({ result: 'b'.repeat(64), error: null, id }) }));
      expect(await client().call('sendmany', ['', {}, 1, 'in time'], { notAfter: performance.now() + 60_000 })).toBe('b'.repeat(64));
    });

    it('checks the deadline when the connection is up: a send whose connection came late is never written', async () => {
      const listener = await StalledListener.start();
      try {
        const started = performance.now();
        const call = client({ url: `http://127.0.0.1:${listener.port}`, timeoutMs: 10_000 }).call('sendmany', ['', {}, 1, 'slow connect'], {
          notAfter: started + 100,
        });
        // The listener accepts again once the deadline is past; the client's connection attempt
        // (its SYN was dropped while the queue was full) succeeds at its retransmission, ~1 s in.
        await new Promise((resolve) => setTimeout(resolve, 200));
        listener.release();
        const error = await failure(call);
        const elapsed = performance.now() - started;
        expect(error).toMatchObject({ code: 'deadline_passed', retryable: true });
        const report = await listener.report();
        expect(report.connections, 'the client did connect (2 fillers and the client)').toBe(3);
        expect(report.bytes, 'the listener never received a byte, let alone a sendmany body').toBe(0);
        expect(elapsed).toBeGreaterThan(500);
      } finally {
        await listener.close();
      }
    });

    it('reports a send that could not connect in time as not sent (node_unreachable), not as uncertain', async () => {
      const listener = await StalledListener.start();
      try {
        const error = await failure(
          client({ url: `http://127.0.0.1:${listener.port}`, timeoutMs: 300 }).call('sendmany', ['', {}, 1, 'no connection']),
        );
        expect(error).toMatchObject({ code: 'node_unreachable', retryable: true });
        expect(error.message).toContain('no connection within 300 ms');
        listener.release();
        expect((await listener.report()).bytes).toBe(0);
      } finally {
        await listener.close();
      }
    });
  });
});

/**
 * A TCP listener that stops accepting connections until `release()`: it runs in a worker thread
 * that blocks itself, with a listen backlog of 1 that two connections made at the start fill.
 * The kernel then drops further connection attempts (SYNs), so clients stay in "connecting"
 * until the worker accepts again and their SYN is retransmitted (after about a second).
 */
class StalledListener {
  private constructor(
    private readonly worker: Worker,
    private readonly gate: Int32Array,
    private readonly fillers: Socket[],
    readonly port: number,
  ) {}

  static async start(): Promise<StalledListener> {
    const gate = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const net = require('node:net');
      const gate = new Int32Array(workerData);
      const sockets = [];
      let bytes = 0;
      const server = net.createServer((socket) => {
        sockets.push(socket);
        socket.on('data', (chunk) => { bytes += chunk.length; });
        socket.on('error', () => {});
      });
      server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
        parentPort.postMessage({ port: server.address().port });
        Atomics.store(gate, 1, 1);
        Atomics.wait(gate, 0, 0); // accept nothing until released
      });
      parentPort.on('message', (message) => {
        if (message === 'report') setTimeout(() => parentPort.postMessage({ connections: sockets.length, bytes }), 100);
        if (message === 'close') {
          for (const socket of sockets) socket.destroy();
          server.close(() => parentPort.close());
        }
      });
      `,
      { eval: true, workerData: gate.buffer },
    );
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (message: { port: number }) => resolve(message.port));
      worker.once('error', reject);
    });
    while (Atomics.load(gate, 1) !== 1) await new Promise((resolve) => setTimeout(resolve, 5));
    // Fill the accept queue (backlog 1 holds two connections) while nobody accepts.
    const fillers = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = connect(port, '127.0.0.1', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    return new StalledListener(worker, gate, fillers, port);
  }

  /** Accept again. */
  release(): void {
    Atomics.store(this.gate, 0, 1);
    Atomics.notify(this.gate, 0);
  }

  /** Connections accepted (fillers included) and bytes received on all of them, a moment after asking. */
  report(): Promise<{ connections: number; bytes: number }> {
    return new Promise((resolve) => {
      this.worker.once('message', resolve);
      this.worker.postMessage('report');
    });
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.fillers) socket.destroy();
    this.worker.postMessage('close');
    await new Promise((resolve) => this.worker.once('exit', resolve));
  }
}
