/**
 * BitcoindBackend over a scripted RPC transport: the decisions that a real node rarely lets a
 * test provoke (an unknown send outcome, a fee that cannot be read, a lock that fails) and the
 * reading of answers from other node versions (no blockheight, coinbase categories).
 */
import { describe, expect, it } from 'vitest';
import { BitcoindBackend } from '../../src/backends/bitcoind/bitcoind-backend.js';
import { JsonNumber, parseLosslessJson } from '../../src/backends/bitcoind/lossless-json.js';
import type { CallOptions, RpcRequest, RpcResult, RpcTransport } from '../../src/backends/bitcoind/rpc-client.js';
import { RpcError } from '../../src/backends/bitcoind/rpc-errors.js';
import type { BitcoindBackendConfig } from '../../src/config/types.js';
import { DOGE, LTC, type CoinDefinition, type NetworkParams } from '../../src/domain/coins.js';
import { BackendError, type BackendErrorCode, InvalidTxid, NotFound } from '../../src/domain/errors.js';
import { encodeAddress } from '../../src/domain/address.js';

const TXID = 'ab'.repeat(32);
const BLOCK = 'cd'.repeat(32);
const PASSPHRASE = 'very secret passphrase';
const LTC_REGTEST = LTC.networks.regtest!;
const EXTERNAL = 'rltc1qghm7d48te3vkklyn3ruewy3hfcer7gj68u9ncz';
const HASH = new Uint8Array(20).fill(7);
const LTC_P2SH = encodeAddress('p2sh', HASH, LTC_REGTEST);
const DOGE_P2PKH = encodeAddress('p2pkh', HASH, DOGE.networks.regtest!);
const OTHER = 'rltc1qvt7jytw40ngjqgr92wq78a2tt8r9ayyn8h7954';

type Answer = unknown | Error;
type Script = (method: string, params: readonly unknown[]) => Answer;

/** A transport that answers from `script`; answers written as JSON text get lossless numbers. */
class ScriptedRpc implements RpcTransport {
  readonly endpoint = 'http://node.test/wallet/w';
  readonly calls: { method: string; params: readonly unknown[]; idempotent: boolean; notAfter?: number }[] = [];
  /** The methods of each batch, in order (their calls are in `calls` too). */
  readonly batches: string[][] = [];
  constructor(private readonly script: Script) {}

  async call(method: string, params: readonly unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    this.calls.push({
      method,
      params,
      idempotent: options.idempotent === true,
      ...(options.notAfter !== undefined ? { notAfter: options.notAfter } : {}),
    });
    const answer = this.script(method, params);
    if (answer instanceof Error) throw answer;
    return answer;
  }

  async batch(requests: readonly RpcRequest[], options: CallOptions = {}): Promise<RpcResult[]> {
    this.batches.push(requests.map((request) => request.method));
    return Promise.all(
      requests.map((request) =>
        this.call(request.method, request.params ?? [], options).then(
          (result): RpcResult => ({ ok: true, result }),
          (error: unknown): RpcResult => ({ ok: false, error: error as BackendError }),
        ),
      ),
    );
  }

  methods(): string[] {
    return this.calls.map((call) => call.method);
  }
}

const json = (text: string): unknown => parseLosslessJson(text);

/** A gettransaction answer of a 3-output send whose fee the node repeats on each line. */
const SEND_ANSWER = json(`{
  "amount": -0.6, "fee": -0.00002030, "confirmations": 0, "txid": "${TXID}", "comment": "batch 7",
  "details": [
    {"address": "${EXTERNAL}", "category": "send", "amount": -0.1, "vout": 0, "fee": -0.00002030},
    {"address": "${OTHER}", "category": "send", "amount": -0.2, "vout": 2, "fee": -0.00002030},
    {"category": "send", "amount": -0.3, "vout": 3, "fee": -0.00002030}
  ], "hex": "00"
}`);

function backend(
  script: Script,
  options: { config?: Partial<BitcoindBackendConfig>; coin?: CoinDefinition; network?: NetworkParams } = {},
): { backend: BitcoindBackend; rpc: ScriptedRpc } {
  const rpc = new ScriptedRpc(script);
  const config: BitcoindBackendConfig = {
    type: 'bitcoind',
    url: 'http://node.test',
    auth: { kind: 'password', username: 'u', password: 'p' },
    wallet: 'w',
    timeoutMs: 30_000,
    maxAnswerBytes: 1024 * 1024,
    addressType: 'p2sh-segwit',
    ...options.config,
  };
  return {
    backend: new BitcoindBackend({ config, coin: options.coin ?? LTC, network: options.network ?? LTC_REGTEST, rpc }),
    rpc,
  };
}

/** A node whose wallet calls succeed, with `overrides` per method. */
function node(overrides: Record<string, (params: readonly unknown[]) => Answer> = {}): Script {
  return (method, params) => {
    const override = overrides[method];
    if (override) return override(params);
    switch (method) {
      case 'getwalletinfo':
        return json('{"walletname":"w","unlocked_until":0}');
      case 'walletpassphrase':
      case 'walletlock':
        return null;
      case 'sendmany':
        return TXID;
      case 'gettransaction':
        return SEND_ANSWER;
      default:
        return new Error(`unexpected call ${method}`);
    }
  };
}

async function thrown(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

const ONE_OUTPUT = [{ address: EXTERNAL, amount: 1n }];

describe('BitcoindBackend.sendMany', () => {
  it('sends exact decimal amounts and counts the repeated fee once', async () => {
    const { backend: b, rpc } = backend(node());
    const result = await b.sendMany(
      [
        { address: EXTERNAL, amount: 1n },
        { address: OTHER, amount: 8_399_999_999_999_999n },
      ],
      { comment: 'batch 7' },
    );
    expect(result).toEqual({ txid: TXID, fee: 2030n });
    const send = rpc.calls.find((call) => call.method === 'sendmany')!;
    expect(send.idempotent).toBe(false);
    expect(send.params).toEqual([
      '',
      { [EXTERNAL]: new JsonNumber('0.00000001'), [OTHER]: new JsonNumber('83999999.99999999') },
      1,
      'batch 7',
    ]);
    expect(rpc.methods()).toEqual(['getwalletinfo', 'sendmany', 'gettransaction']);
  });

  it('refuses bad outputs before any call, retryably', async () => {
    const { backend: b, rpc } = backend(node());
    const cases = [
      [],
      [{ address: EXTERNAL, amount: 0n }],
      [{ address: EXTERNAL, amount: -5n }],
      [{ address: EXTERNAL, amount: 1 as unknown as bigint }],
      [{ address: EXTERNAL, amount: LTC.maxMoney + 1n }],
      [{ address: 'ltc1qnotregtest', amount: 1n }],
      [
        { address: EXTERNAL, amount: 1n },
        { address: EXTERNAL.toUpperCase(), amount: 2n },
      ],
    ];
    for (const outputs of cases) {
      expect(
        await thrown(b.sendMany(outputs, { comment: 'bad' })),
        JSON.stringify(outputs, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)),
      ).toMatchObject({
        code: 'invalid_request',
        retryable: true,
      });
    }
    expect(rpc.calls).toEqual([]);
  });

  it('passes on insufficient funds (-6) as retryable insufficient_funds', async () => {
    const { backend: b } = backend(node({ sendmany: () => new RpcError('sendmany', -6, 'Insufficient funds', 'x') }));
    expect(await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c' }))).toMatchObject({ code: 'insufficient_funds', retryable: true });
  });

  it('turns a lost or unreadable sendmany answer into outcome_unknown, never retryable', async () => {
    const failures: Answer[] = [
      new BackendError('timed out', { retryable: false, code: 'outcome_unknown' }),
      new BackendError('html', { retryable: false, code: 'garbage' }),
      new BackendError('too big', { retryable: false, code: 'answer_too_large' }),
      // A code the backend has never heard of cannot prove that nothing was sent.
      new BackendError('new', { retryable: true, code: 'some_future_code' as BackendErrorCode }),
      new Error('socket hang up'),
      'not a txid',
      json('12'),
    ];
    for (const failure of failures) {
      const { backend: b } = backend(node({ sendmany: () => failure }));
      const error = await thrown(b.sendMany(ONE_OUTPUT, { comment: 'withdrawal 12' }));
      expect(error).toBeInstanceOf(BackendError);
      expect(error, String(failure)).toMatchObject({ code: 'outcome_unknown', retryable: false });
      expect((error as Error).message).toContain('withdrawal 12');
    }
  });

  it('passes on failures that prove nothing was sent', async () => {
    for (const code of ['node_unreachable', 'node_busy', 'deadline_passed', 'unauthorized'] as const) {
      const { backend: b } = backend(node({ sendmany: () => new BackendError('x', { retryable: true, code }) }));
      expect(await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c' }))).toMatchObject({ code, retryable: true });
    }
    const { backend: b, rpc } = backend(
      node({ getwalletinfo: () => new RpcError('getwalletinfo', -18, 'Requested wallet does not exist or is not loaded', 'x') }),
    );
    expect(await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c' }))).toMatchObject({ code: 'wallet_not_found' });
    expect(rpc.methods()).toEqual(['getwalletinfo']);
  });

  it('reports a send whose fee cannot be read as outcome_unknown naming the txid', async () => {
    const { backend: b } = backend(node({ gettransaction: () => new BackendError('down', { retryable: true, code: 'node_unreachable' }) }));
    const error = await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c' }));
    expect(error).toMatchObject({ code: 'outcome_unknown', retryable: false });
    expect((error as Error).message).toContain(TXID);
  });

  it('unlocks with the passphrase just for the send and locks again, even when the send fails', async () => {
    const { backend: b, rpc } = backend(node(), { config: { passphrase: PASSPHRASE } });
    await b.sendMany(ONE_OUTPUT, { comment: 'c' });
    expect(rpc.methods()).toEqual(['getwalletinfo', 'walletpassphrase', 'sendmany', 'walletlock', 'gettransaction']);
    expect(rpc.calls[1]!.params).toEqual([PASSPHRASE, 40]);

    const failing = backend(node({ sendmany: () => new RpcError('sendmany', -6, 'Insufficient funds', 'x') }), {
      config: { passphrase: PASSPHRASE },
    });
    await thrown(failing.backend.sendMany(ONE_OUTPUT, { comment: 'c' }));
    expect(failing.rpc.methods()).toEqual(['getwalletinfo', 'walletpassphrase', 'sendmany', 'walletlock']);
  });

  it('does not let a failing walletlock hide a successful send', async () => {
    const { backend: b } = backend(node({ walletlock: () => new Error('connection reset') }), { config: { passphrase: PASSPHRASE } });
    expect(await b.sendMany(ONE_OUTPUT, { comment: 'c' })).toEqual({ txid: TXID, fee: 2030n });
  });

  it('sends without unlocking a wallet that is not encrypted (-15)', async () => {
    const { backend: b, rpc } = backend(
      node({ walletpassphrase: () => new RpcError('walletpassphrase', -15, 'running with an unencrypted wallet', 'x') }),
      { config: { passphrase: PASSPHRASE } },
    );
    await b.sendMany(ONE_OUTPUT, { comment: 'c' });
    expect(rpc.methods()).toEqual(['getwalletinfo', 'walletpassphrase', 'sendmany', 'gettransaction']);
  });

  it('reports a wrong passphrase without the passphrase, and sends nothing', async () => {
    const { backend: b, rpc } = backend(
      node({ walletpassphrase: () => new RpcError('walletpassphrase', -14, 'The wallet passphrase entered was incorrect.', 'x') }),
      { config: { passphrase: PASSPHRASE } },
    );
    const error = await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c' }));
    expect(error).toMatchObject({ code: 'wrong_passphrase', retryable: false });
    expect(String((error as Error).message)).not.toContain(PASSPHRASE);
    expect(rpc.methods()).not.toContain('sendmany');
  });

  it('refuses a send past its deadline before any call, retryably (deadline_passed)', async () => {
    const { backend: b, rpc } = backend(node(), { config: { passphrase: PASSPHRASE } });
    const error = await thrown(b.sendMany(ONE_OUTPUT, { comment: 'late', notAfter: performance.now() - 1 }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'deadline_passed', retryable: true });
    expect(rpc.calls).toEqual([]);
  });

  it('does not unlock the wallet when the deadline passes during the first read', async () => {
    const notAfter = performance.now() + 20;
    const slowInfo = (): Answer => {
      const until = performance.now() + 40;
      while (performance.now() < until) {
        // The node takes its time answering getwalletinfo.
      }
      return json('{"walletname":"w"}');
    };
    const { backend: b, rpc } = backend(node({ getwalletinfo: slowInfo }), { config: { passphrase: PASSPHRASE } });
    expect(await thrown(b.sendMany(ONE_OUTPUT, { comment: 'c', notAfter }))).toMatchObject({ code: 'deadline_passed' });
    expect(rpc.methods()).toEqual(['getwalletinfo']);
  });

  it('hands the deadline to the sendmany request, and locks the wallet again when that refuses it', async () => {
    const notAfter = performance.now() + 60_000;
    const { backend: b, rpc } = backend(node(), { config: { passphrase: PASSPHRASE } });
    await b.sendMany(ONE_OUTPUT, { comment: 'c', notAfter });
    expect(rpc.calls.find((call) => call.method === 'sendmany')?.notAfter).toBe(notAfter);

    // The client refuses to write the request once the deadline is past (rpc-client.test.ts).
    const refused = backend(node({ sendmany: () => new BackendError('late', { retryable: true, code: 'deadline_passed' }) }), {
      config: { passphrase: PASSPHRASE },
    });
    expect(await thrown(refused.backend.sendMany(ONE_OUTPUT, { comment: 'c', notAfter }))).toMatchObject({
      code: 'deadline_passed',
      retryable: true,
    });
    expect(refused.rpc.methods()).toEqual(['getwalletinfo', 'walletpassphrase', 'sendmany', 'walletlock']);
  });

  it('runs sends one at a time, so one send cannot lock the wallet under another', async () => {
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sends = 0;
    const rpc = new ScriptedRpc(node());
    const original = rpc.call.bind(rpc);
    rpc.call = async (method, params, options) => {
      if (method === 'sendmany' && sends++ === 0) await gate;
      return original(method, params, options);
    };
    const b = new BitcoindBackend({
      config: {
        type: 'bitcoind',
        url: 'http://node.test',
        auth: { kind: 'cookie', cookieFile: '/x' },
        timeoutMs: 1000,
        maxAnswerBytes: 1024,
        addressType: 'bech32',
        passphrase: PASSPHRASE,
      },
      coin: LTC,
      network: LTC_REGTEST,
      rpc,
    });
    const first = b.sendMany(ONE_OUTPUT, { comment: '1' });
    const second = b.sendMany(ONE_OUTPUT, { comment: '2' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    release!();
    await Promise.all([first, second]);
    const order = rpc.methods().filter((method) => method !== 'getwalletinfo' && method !== 'gettransaction');
    expect(order).toEqual(['walletpassphrase', 'sendmany', 'walletlock', 'walletpassphrase', 'sendmany', 'walletlock']);
  });
});

describe('BitcoindBackend reading answers', () => {
  it('normalises a send: amounts positive, fee once, comment, no block yet', async () => {
    const { backend: b } = backend(node());
    const info = await b.getTransaction(TXID.toUpperCase());
    expect(info).toEqual({
      txid: TXID,
      confirmations: 0,
      received: [],
      sent: [
        { address: EXTERNAL, amount: 10_000_000n, vout: 0 },
        { address: OTHER, amount: 20_000_000n, vout: 2 },
        { address: '', amount: 30_000_000n, vout: 3 },
      ],
      fee: 2030n,
      comment: 'batch 7',
    });
  });

  it('leaves coinbase outputs out of received, whatever their maturity', async () => {
    const { backend: b } = backend(
      node({
        gettransaction: () =>
          json(`{"amount": 50, "confirmations": 120, "generated": true, "blockhash": "${BLOCK}", "blockheight": 5, "txid": "${TXID}",
            "details": [{"address": "${EXTERNAL}", "category": "generate", "amount": 50, "vout": 0},
                        {"address": "${OTHER}", "category": "immature", "amount": 0.5, "vout": 1}]}`),
      }),
    );
    expect(await b.getTransaction(TXID)).toMatchObject({ received: [], sent: [], fee: 0n, blockHeight: 5 });
  });

  it('looks the block height up where the node does not report it (Dogecoin Core 1.14)', async () => {
    const { backend: b, rpc } = backend(
      node({
        gettransaction: () =>
          json(`{"amount": 12.5, "confirmations": 3, "blockhash": "${BLOCK}", "txid": "${TXID}",
            "details": [{"address": "${DOGE_P2PKH}", "category": "receive", "amount": 12.5, "vout": 1}]}`),
        getblockheader: () => json(`{"hash": "${BLOCK}", "height": 4242}`),
      }),
      { coin: DOGE, network: DOGE.networks.regtest! },
    );
    expect(await b.getTransaction(TXID)).toMatchObject({
      confirmations: 3,
      blockHash: BLOCK,
      blockHeight: 4242,
      received: [{ address: DOGE_P2PKH, amount: 1_250_000_000n, vout: 1 }],
    });
    expect(rpc.methods()).toEqual(['gettransaction', 'getblockheader']);
  });

  it('recovers the receives of a double-spent transaction from its raw form, change left out', async () => {
    const { backend: b } = backend(
      node({
        gettransaction: () =>
          json(`{"amount": 0, "confirmations": -3, "txid": "${TXID}", "walletconflicts": [], "details": [], "hex": "0200"}`),
        decoderawtransaction: () =>
          json(`{"txid": "${TXID}", "vout": [
            {"n": 0, "value": 10.0, "scriptPubKey": {"addresses": ["${EXTERNAL}"]}},
            {"n": 1, "value": 39.999, "scriptPubKey": {"address": "${OTHER}"}},
            {"n": 2, "value": 0, "scriptPubKey": {"type": "nulldata"}}]}`),
        getaddressinfo: (params) => (params[0] === EXTERNAL ? { ismine: true, ischange: false } : { ismine: true, ischange: true }),
      }),
    );
    expect(await b.getTransaction(TXID)).toEqual({
      txid: TXID,
      confirmations: -3,
      received: [{ address: EXTERNAL, amount: 1_000_000_000n, vout: 0 }],
      sent: [],
      fee: 0n,
    });
  });

  it('asks validateaddress for ownership where getaddressinfo does not exist (old nodes)', async () => {
    const { backend: b, rpc } = backend(
      node({
        gettransaction: () => json(`{"amount": 0, "confirmations": -1, "txid": "${TXID}", "details": [], "hex": "0200"}`),
        decoderawtransaction: () => json(`{"vout": [{"n": 1, "value": 2.5, "scriptPubKey": {"addresses": ["${EXTERNAL}"]}}]}`),
        getaddressinfo: () => new RpcError('getaddressinfo', -32601, 'Method not found', 'x'),
        validateaddress: () => ({ isvalid: true, ismine: true }),
      }),
    );
    expect((await b.getTransaction(TXID)).received).toEqual([{ address: EXTERNAL, amount: 250_000_000n, vout: 1 }]);
    expect(rpc.methods()).toEqual(['gettransaction', 'decoderawtransaction', 'getaddressinfo', 'validateaddress']);
  });

  it('maps -5 to NotFound and refuses malformed txids without calling the node', async () => {
    const { backend: b, rpc } = backend(
      node({ gettransaction: () => new RpcError('gettransaction', -5, 'Invalid or non-wallet transaction id', 'x') }),
    );
    await expect(b.getTransaction(TXID)).rejects.toBeInstanceOf(NotFound);
    for (const bad of ['', 'xyz', TXID.slice(2), `${TXID}00`, 42 as unknown as string]) {
      await expect(b.getTransaction(bad)).rejects.toBeInstanceOf(InvalidTxid);
    }
    expect(rpc.calls).toHaveLength(1);
  });

  it('reports answers of the wrong shape as garbage', async () => {
    const answers = [
      json(`{"txid": "${TXID}", "confirmations": 1, "details": [{"category": "receive", "amount": "1.0", "vout": 0}]}`),
      json(`{"txid": "${TXID}", "confirmations": 1.5, "details": []}`),
      json(`{"txid": "${TXID}", "confirmations": 1, "details": [{"category": "receive", "amount": 0.000000001, "vout": 0}]}`),
      json(`{"txid": "${BLOCK}", "confirmations": 1, "details": []}`),
      json('[]'),
    ];
    for (const answer of answers) {
      const { backend: b } = backend(node({ gettransaction: () => answer }));
      expect(await thrown(b.getTransaction(TXID))).toMatchObject({ code: 'garbage', retryable: false });
    }
  });

  it('asks for a typed address on segwit networks and for a plain one on Dogecoin', async () => {
    const ltc = backend(node({ getnewaddress: () => LTC_P2SH }));
    expect(await ltc.backend.createAddress('deposit')).toBe(LTC_P2SH);
    expect(ltc.rpc.calls[0]).toMatchObject({ method: 'getnewaddress', params: ['deposit', 'p2sh-segwit'] });

    const doge = backend(node({ getnewaddress: () => DOGE_P2PKH }), { coin: DOGE, network: DOGE.networks.regtest! });
    await doge.backend.createAddress('deposit');
    expect(doge.rpc.calls[0]).toMatchObject({ method: 'getnewaddress', params: ['deposit'] });

    const wrong = backend(node({ getnewaddress: () => 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9' }));
    expect(await thrown(wrong.backend.createAddress('x'))).toMatchObject({ code: 'wrong_network', retryable: false });
  });

  it('refuses calls after close', async () => {
    const { backend: b } = backend(node());
    await b.close();
    expect(await thrown(b.getBalance(0))).toMatchObject({ code: 'backend_closed' });
  });
});

/** Best-chain block hashes of the scripted chain, by height. */
const blockAt = (height: number): string => (height + 1).toString(16).padStart(64, '0');
/** A block that left the best chain. */
const STALE = 'ee'.repeat(32);
const TX = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

/** A `listsinceblock` entry receiving `coins` to EXTERNAL in `tx`, `confirmations` deep. */
function entry(tx: string, coins: string, confirmations: number, tipHeight = 10): string {
  const block =
    confirmations > 0 ? `, "blockhash": "${blockAt(tipHeight + 1 - confirmations)}", "blockheight": ${tipHeight + 1 - confirmations}` : '';
  return `{"txid": "${tx}", "category": "receive", "address": "${EXTERNAL}", "amount": ${coins}, "vout": 0, "confirmations": ${confirmations}${block}}`;
}

/** A `gettransaction` answer of a receive of `coins` to EXTERNAL. */
function receiveAnswer(tx: string, coins: string, confirmations: number): unknown {
  const block = confirmations > 0 ? `, "blockhash": "${blockAt(11 - confirmations)}", "blockheight": ${11 - confirmations}` : '';
  return json(`{"amount": ${coins}, "confirmations": ${confirmations}, "txid": "${tx}"${block},
    "details": [{"address": "${EXTERNAL}", "category": "receive", "amount": ${coins}, "vout": 0}], "hex": "00"}`);
}

/**
 * A node whose best chain is 10 blocks high (tip `blockAt(10)`), with `overrides` per method;
 * `listsinceblock` answers from `since[from]`.
 */
function chainNode(
  since: Record<string, { entries?: string[]; removed?: string[] } | Error> = {},
  overrides: Record<string, (params: readonly unknown[]) => Answer> = {},
): Script {
  return node({
    getbestblockhash: () => blockAt(10),
    getblockcount: () => json('10'),
    getblockhash: (params) =>
      (params[0] as number) <= 10 ? blockAt(params[0] as number) : new RpcError('getblockhash', -8, 'Block height out of range', 'x'),
    listsinceblock: (params) => {
      const answer = since[params[0] as string];
      if (answer === undefined) return new Error(`unexpected listsinceblock from ${String(params[0])}`);
      if (answer instanceof Error) return answer;
      const removed = (answer.removed ?? []).map((tx) => entry(tx, '0.1', 0));
      return json(
        `{"transactions": [${(answer.entries ?? []).join(',')}], "removed": [${removed.join(',')}], "lastblock": "${blockAt(10)}"}`,
      );
    },
    ...overrides,
  });
}

const TIP = { hash: blockAt(10), height: 10 };
const SANDWICH = ['getbestblockhash', 'getblockcount'];

describe('BitcoindBackend readings carry their tip', () => {
  it('reads the tip in one batch (chainTip)', async () => {
    const { backend: b, rpc } = backend(chainNode());
    expect(await b.chainTip()).toEqual(TIP);
    expect(rpc.batches).toEqual([[...SANDWICH, ...SANDWICH]]);
  });

  it('reads transactions in one batch between tip readings, unknown txids apart, like getTransaction', async () => {
    const known = TX(1);
    const foreign = TX(2);
    const { backend: b, rpc } = backend(
      chainNode(
        {},
        {
          gettransaction: (params) =>
            params[0] === known
              ? receiveAnswer(known, '0.5', 2)
              : new RpcError('gettransaction', -5, 'Invalid or non-wallet transaction id', 'x'),
        },
      ),
    );
    const reading = await b.readTransactions([known.toUpperCase(), foreign, known]);
    expect(rpc.batches).toEqual([[...SANDWICH, 'gettransaction', 'gettransaction', ...SANDWICH]]);
    expect(reading.tip).toEqual(TIP);
    expect(reading.unknown).toEqual([foreign]);
    expect(reading.transactions).toEqual([await b.getTransaction(known)]);
    expect(reading.transactions[0]).toMatchObject({
      confirmations: 2,
      blockHeight: 9,
      received: [{ address: EXTERNAL, amount: 50_000_000n, vout: 0 }],
    });
  });

  it('refuses a malformed txid among good ones before any call', async () => {
    const { backend: b, rpc } = backend(chainNode());
    for (const bad of ['xyz', TX(1).slice(1), 7 as unknown as string]) {
      await expect(b.readTransactions([TX(1), bad])).rejects.toBeInstanceOf(InvalidTxid);
    }
    expect(rpc.calls).toEqual([]);
    expect((await b.readTransactions([])).tip).toEqual(TIP);
  });

  it('reads again while the tip moves during the batch, and gives up retryably after 3 batches', async () => {
    let hashReads = 0;
    // The tip moves between the first two readings of the hash only.
    const once = backend(
      chainNode(
        {},
        { getbestblockhash: () => (++hashReads === 1 ? STALE : blockAt(10)), gettransaction: () => receiveAnswer(TX(1), '1', 1) },
      ),
    );
    const reading = await once.backend.readTransactions([TX(1)]);
    expect(reading.tip).toEqual(TIP);
    expect(once.rpc.batches).toHaveLength(2);

    let height = 10;
    // A new block every time the count is read: before and after never agree.
    const moving = backend(
      chainNode({}, { getblockcount: () => json(String(height++)), gettransaction: () => receiveAnswer(TX(1), '1', 1) }),
    );
    const error = await thrown(moving.backend.readTransactions([TX(1)]));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'tip_moving', retryable: true });
    expect(moving.rpc.batches).toHaveLength(3);
  });

  it('gives listReceived pages the tip their transactions were read at', async () => {
    const listed = `[{"txid": "${TX(1)}", "category": "receive", "amount": 0.5, "vout": 0, "confirmations": 2}]`;
    const { backend: b, rpc } = backend(
      chainNode(
        {},
        {
          listtransactions: (params) => json((params[2] as number) === 0 ? listed : '[]'),
          gettransaction: () => receiveAnswer(TX(1), '0.5', 2),
        },
      ),
    );
    const page = await b.listReceived(null, 10);
    expect(page).toMatchObject({ next: null, tip: TIP, transactions: [{ txid: TX(1), confirmations: 2 }] });
    expect(rpc.batches[rpc.batches.length - 1]).toEqual([...SANDWICH, 'gettransaction', ...SANDWICH]);
  });
});

describe('BitcoindBackend.changesSince', () => {
  const deep = entry(TX(1), '0.1', 8);
  const recent = entry(TX(2), '0.2', 2);
  const pending = entry(TX(3), '0.3', 0);

  /** The `listsinceblock` calls made, by starting block. */
  const listedFrom = (rpc: ScriptedRpc): unknown[] =>
    rpc.calls.filter((call) => call.method === 'listsinceblock').map((call) => call.params[0]);

  it('lists the whole history without a cursor', async () => {
    const { backend: b, rpc } = backend(chainNode({ '': { entries: [deep, recent, pending] } }));
    const changes = await b.changesSince(null, 3);
    expect(changes.tip).toEqual(TIP);
    expect(changes.transactions.map((tx) => tx.txid)).toEqual([TX(1), TX(2), TX(3)]);
    expect(changes.transactions[1]).toMatchObject({ confirmations: 2, blockHeight: 9, received: [{ amount: 20_000_000n }] });
    expect(changes.removed).toEqual([]);
    expect(rpc.batches).toEqual([[...SANDWICH, 'listsinceblock', ...SANDWICH]]);
  });

  it('lists from the block depth below the tip when the cursor is more recent', async () => {
    const { backend: b, rpc } = backend(chainNode({ [blockAt(7)]: { entries: [recent, pending] } }));
    const changes = await b.changesSince({ hash: blockAt(9), height: 9 }, 3);
    expect(listedFrom(rpc)).toEqual([blockAt(7)]);
    expect(changes.transactions.map((tx) => tx.txid)).toEqual([TX(2), TX(3)]);
    // Depth 0 from the tip itself: the mempool only.
    const mempool = backend(chainNode({ [blockAt(10)]: { entries: [pending] } }));
    expect((await mempool.backend.changesSince(TIP, 0)).transactions.map((tx) => tx.txid)).toEqual([TX(3)]);
    // A depth beyond the chain: the whole history.
    const all = backend(chainNode({ '': { entries: [deep] } }));
    await all.backend.changesSince({ hash: blockAt(9), height: 9 }, 1000);
    expect(listedFrom(all.rpc)).toEqual(['']);
  });

  it('lists from the cursor when it is deeper than the depth window, without looking another block up', async () => {
    const { backend: b, rpc } = backend(chainNode({ [blockAt(2)]: { entries: [deep, recent] } }));
    await b.changesSince({ hash: blockAt(2), height: 2 }, 3);
    expect(listedFrom(rpc)).toEqual([blockAt(2)]);
    expect(rpc.methods().filter((method) => method === 'getblockhash')).toHaveLength(1); // the cursor's check only
  });

  it('lists from a cursor off the best chain, with removed, and the depth window in the same batch', async () => {
    const { backend: b, rpc } = backend(
      chainNode({
        // The node answers from the fork point (here block 8) and names what was disconnected.
        [STALE]: { entries: [recent, pending], removed: [TX(4)] },
        [blockAt(7)]: { entries: [recent, pending] },
      }),
    );
    const changes = await b.changesSince({ hash: STALE, height: 9 }, 3);
    expect(rpc.batches[rpc.batches.length - 1]).toEqual([...SANDWICH, 'listsinceblock', 'listsinceblock', ...SANDWICH]);
    expect(listedFrom(rpc)).toEqual([STALE, blockAt(7)]);
    expect(changes.removed).toEqual([TX(4)]);
    // Each transaction once, its outputs once, although both listings hold it.
    expect(changes.transactions.map((tx) => tx.txid).sort()).toEqual([TX(2), TX(3)]);
    expect(changes.transactions.find((tx) => tx.txid === TX(2))?.received).toEqual([{ address: EXTERNAL, amount: 20_000_000n, vout: 0 }]);
  });

  it('lists from an off-chain cursor alone when its fork point cannot be inside the depth window', async () => {
    const { backend: b, rpc } = backend(chainNode({ [STALE]: { entries: [deep, recent], removed: [TX(4)] } }));
    expect((await b.changesSince({ hash: STALE, height: 5 }, 3)).removed).toEqual([TX(4)]);
    expect(listedFrom(rpc)).toEqual([STALE]);
  });

  it('treats a cursor above a best chain that became shorter as off the best chain', async () => {
    const { backend: b, rpc } = backend(
      chainNode({ [STALE]: { entries: [pending], removed: [TX(4), TX(5)] }, [blockAt(7)]: { entries: [] } }),
    );
    const changes = await b.changesSince({ hash: STALE, height: 12 }, 3);
    expect(listedFrom(rpc)).toEqual([STALE, blockAt(7)]);
    expect(changes.removed).toEqual([TX(4), TX(5)]);
  });

  it('reads the whole history when the node does not know the cursor block', async () => {
    const unknownBlock = new RpcError('listsinceblock', -5, 'Block not found', 'x');
    const { backend: b, rpc } = backend(chainNode({ [STALE]: unknownBlock, '': { entries: [deep, recent, pending] } }));
    const changes = await b.changesSince({ hash: STALE, height: 3 }, 3);
    expect(listedFrom(rpc)).toEqual([STALE, '']);
    expect(changes.transactions).toHaveLength(3);
  });

  it('reads again when the listing was made at another block than the tip around it', async () => {
    let listings = 0;
    const script = chainNode(
      {},
      {
        listsinceblock: () => json(`{"transactions": [], "removed": [], "lastblock": "${++listings === 1 ? blockAt(9) : blockAt(10)}"}`),
      },
    );
    const { backend: b, rpc } = backend(script);
    expect((await b.changesSince(null, 3)).tip).toEqual(TIP);
    expect(rpc.batches).toHaveLength(2);
  });

  it('passes on answer_too_large, and refuses malformed cursors and depths', async () => {
    const { backend: b } = backend(
      chainNode({}, { listsinceblock: () => new BackendError('too big', { retryable: false, code: 'answer_too_large' }) }),
    );
    expect(await thrown(b.changesSince(null, 3))).toMatchObject({ code: 'answer_too_large', retryable: false });
    for (const [cursor, depth] of [
      [null, -1],
      [null, 1.5],
      [{ hash: 'xyz', height: 1 }, 3],
      [{ hash: STALE.toUpperCase(), height: 1 }, 3],
      [{ hash: STALE, height: -1 }, 3],
    ] as const) {
      await expect(b.changesSince(cursor, depth)).rejects.toBeInstanceOf(RangeError);
    }
  });
});
