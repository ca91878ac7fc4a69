/**
 * The block.io backend against the fake block.io: the API client's errors, the checks of a
 * prepared withdrawal before signing, the PIN, and a submit whose answer is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { OUTCOME_UNKNOWN, TXID_PATTERN } from '../../src/backends/backend.js';
import { BlockioBackend } from '../../src/backends/blockio/index.js';
import { createBackend } from '../../src/backends/factory.js';
import { loadConfigFile } from '../../src/config/index.js';
import { BlockioClient, BlockioRefusal } from '../../src/backends/blockio/client.js';
import { decryptUserKey, publicKeyHex } from '../../src/backends/blockio/user-key.js';
import { BackendError } from '../../src/domain/errors.js';
import { FAKE_API_KEY, FAKE_PIN, startBlockioPair, type BlockioPair } from '../fakes/blockio/harness.js';
import type { Tamper } from '../fakes/blockio/server.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${String(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('block.io user key', () => {
  // block.io's published test vectors (its client libraries' tests): PIN "deadbeef".
  const publicKey = '02f87f787bffb30396984cb6b3a9d6830f32d5b656b3e39b0abe4f3b3c35d99323';

  it('decrypts the legacy AES-256-ECB and the current AES-256-GCM user keys with the PIN', () => {
    const legacy = decryptUserKey({ public_key: publicKey, encrypted_passphrase: '3wIJtPoC8KO6S7x6LtrN0g==' }, 'deadbeef');
    expect(publicKeyHex(legacy)).toBe(publicKey);
    const gcm = decryptUserKey(
      {
        public_key: publicKey,
        encrypted_passphrase: 'ELV56Z57KoA=',
        algorithm: {
          pbkdf2_salt: '922445847c173e90667a19d90729e1fb',
          pbkdf2_iterations: 500_000,
          pbkdf2_hash_function: 'SHA256',
          pbkdf2_phase1_key_length: 16,
          pbkdf2_phase2_key_length: 32,
          aes_iv: 'a57414b88b67f977829cbdca',
          aes_cipher: 'AES-256-GCM',
          aes_auth_tag: 'adeb7dfe53027bdda5824dc524d5e55a',
          aes_auth_data: '',
        },
      },
      'deadbeef',
    );
    expect(publicKeyHex(gcm)).toBe(publicKey);
  });

  it('refuses a wrong PIN with wrong_pin, never naming the PIN', () => {
    let error: unknown;
    try {
      decryptUserKey({ public_key: publicKey, encrypted_passphrase: '3wIJtPoC8KO6S7x6LtrN0g==' }, 'wrong-pin-1234');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toMatchObject({ code: 'wrong_pin' });
    expect(String((error as Error).message)).not.toContain('wrong-pin-1234');
  });
});

describe('block.io configuration', () => {
  it('builds a BlockioBackend from examples/blockio.yaml, secrets from the environment', async () => {
    const example = fileURLToPath(new URL('../../examples/blockio.yaml', import.meta.url));
    const config = await loadConfigFile(example, { HOME: '/tmp', BLOCKIO_LTCTEST_KEY: 'key-from-env', BLOCKIO_PIN: 'pin-from-env' });
    const coin = config.coins.ltc!;
    expect(coin.backend).toEqual({
      type: 'blockio',
      apiKey: 'key-from-env',
      pin: 'pin-from-env',
      apiUrl: 'https://block.io/api/v2/',
      timeoutMs: 30_000,
      maxFee: 500_000n,
    });
    const backend = await createBackend('ltc', coin);
    expect(backend).toBeInstanceOf(BlockioBackend);
    expect(backend.kind).toBe('blockio');
    await backend.close();
  });
});

describe('BlockioBackend on the fake block.io', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  async function funded(config: Parameters<typeof startBlockioPair>[0] = {}): Promise<BlockioPair> {
    pair = await startBlockioPair(config);
    pair.fake.fund(50_000_000n);
    return pair;
  }

  describe('client', () => {
    it('answers with data of a success envelope; a fail answer is a BlockioRefusal with block.io message', async () => {
      const { fake } = await funded();
      const client = new BlockioClient({ apiUrl: fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
      expect(await client.call('get_balance')).toMatchObject({ network: 'LTCTEST', available_balance: '0.50000000' });
      fake.faults.failNext('get_balance', 'Something is wrong.');
      const error = await failure(client.call('get_balance'));
      expect(error).toBeInstanceOf(BlockioRefusal);
      expect(error).toMatchObject({ blockioMessage: 'Something is wrong.', code: 'rejected', retryable: true });
    });

    it('retries throttled requests (429, 420, 419) with back-off, a bounded number of times', async () => {
      const { fake } = await funded();
      const client = new BlockioClient({
        apiUrl: fake.apiUrl,
        apiKey: FAKE_API_KEY,
        timeoutMs: 5_000,
        retry: { attempts: 3, baseDelayMs: 1 },
      });
      fake.faults.throttleNext(2, 420);
      expect(await client.call('get_balance')).toMatchObject({ network: 'LTCTEST' });
      expect(fake.requests.get('get_balance')).toBe(3);
      fake.faults.throttleNext(3, 429);
      expect(await failure(client.call('get_balance'))).toMatchObject({ code: 'throttled', retryable: true });
      expect(fake.requests.get('get_balance')).toBe(6);
    });

    it('maps HTTP 500 to service_error, a refused key to unauthorized, a dead port to node_unreachable', async () => {
      const { fake } = await funded();
      const client = new BlockioClient({ apiUrl: fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
      fake.faults.serverErrorNext('get_balance');
      expect(await failure(client.call('get_balance'))).toMatchObject({ code: 'service_error', retryable: true });
      const wrongKey = new BlockioClient({ apiUrl: fake.apiUrl, apiKey: 'another-key', timeoutMs: 5_000 });
      expect(await failure(wrongKey.call('get_balance'))).toMatchObject({ code: 'unauthorized' });
      const dead = new BlockioClient({ apiUrl: 'http://127.0.0.1:9/api/v2/', apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
      expect(await failure(dead.call('get_balance'))).toMatchObject({ code: 'node_unreachable', retryable: true });
    });

    it('drops an answer over the size cap (answer_too_large) and quotes block.io messages on one short line', async () => {
      const { fake } = await funded();
      const capped = new BlockioClient({ apiUrl: fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000, maxAnswerBytes: 64 });
      expect(await failure(capped.call('get_balance'))).toMatchObject({ code: 'answer_too_large', retryable: true });
      const client = new BlockioClient({ apiUrl: fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
      fake.faults.failNext('get_balance', `first line\nsecond line ${'x'.repeat(1_000)}`);
      const error = (await failure(client.call('get_balance'))) as BlockioRefusal;
      expect(error.blockioMessage).toMatch(/^first line second line x+…$/);
      expect(error.blockioMessage.length).toBeLessThanOrEqual(301);
    });

    it('never puts the API key or the PIN in an error, even when block.io echoes them', async () => {
      const { fake, backend } = await funded();
      fake.faults.failNext('get_balance', `API key ${FAKE_API_KEY} with PIN ${FAKE_PIN} is not allowed.`);
      const error = await failure(backend.getBalance(1));
      expect(error).toBeInstanceOf(BackendError);
      const text = `${(error as Error).message} ${JSON.stringify(error)} ${String((error as Error).stack)}`;
      expect(text).not.toContain(FAKE_API_KEY);
      expect(text).not.toContain(FAKE_PIN);
      expect((error as Error).message).toContain('***');
      // The PIN never travels to block.io either: only the API key does.
      await backend.sendMany([{ address: fake.externalAddress(), amount: 1_000_000n }], { comment: 'no pin on the wire' });
      expect(fake.log.join('\n')).not.toContain(FAKE_PIN);
    });
  });

  describe('withdrawals', () => {
    it('sends a batch with one prepare and one submit; the fee is inputs minus outputs; block.io holds our signature', async () => {
      const { fake, backend } = await funded();
      const outputs = [
        { address: fake.externalAddress(), amount: 1_000_000n },
        { address: fake.externalAddress(), amount: 2_000_000n },
      ];
      const result = await backend.sendMany(outputs, { comment: 'batch' });
      expect(result.txid).toMatch(TXID_PATTERN);
      expect(fake.requests.get('prepare_transaction')).toBe(1);
      expect(fake.requests.get('submit_transaction')).toBe(1);
      const onChain = fake.chain.get(result.txid)!;
      const inputSum = onChain.inputs.reduce((sum, input) => sum + fake.chain.get(input.txid)!.outputs[input.vout]!.amount, 0n);
      const outputSum = onChain.outputs.reduce((sum, output) => sum + output.amount, 0n);
      expect(result.fee).toBe(inputSum - outputSum);
      expect(result.fee).toBeGreaterThan(0n);
    });

    it("books block.io's own fee output with the network fee, once", async () => {
      pair = await startBlockioPair({}, { blockioFee: 5_000n });
      pair.fake.fund(50_000_000n);
      const result = await pair.backend.sendMany([{ address: pair.fake.externalAddress(), amount: 1_000_000n }], { comment: 'fee' });
      const onChain = pair.fake.chain.get(result.txid)!;
      const inputSum = onChain.inputs.reduce((sum, input) => sum + pair!.fake.chain.get(input.txid)!.outputs[input.vout]!.amount, 0n);
      const outputSum = onChain.outputs.reduce((sum, output) => sum + output.amount, 0n);
      expect(result.fee).toBe(inputSum - outputSum + 5_000n);
    });

    const tampers: [Tamper, string][] = [
      ['extra_output', 'preparation_tampered'],
      ['changed_amount', 'preparation_tampered'],
      ['foreign_change', 'preparation_tampered'],
      ['high_fee', 'fee_above_maximum'],
    ];
    it.each(tampers)('refuses a preparation tampered with (%s) before signing; nothing is submitted', async (kind, code) => {
      const { fake, backend } = await funded();
      const before = await backend.getBalance(0);
      fake.faults.tamperNext(kind);
      const error = await failure(
        backend.sendMany([{ address: fake.externalAddress(), amount: 3_000_000n }], { comment: `tamper ${kind}` }),
      );
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ code, retryable: false });
      expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
      expect(await backend.getBalance(0)).toBe(before);
    });

    it('refuses a preparation whose fee is above max_fee and submits nothing', async () => {
      const { fake, backend } = await funded({ maxFee: 100n });
      const to = fake.externalAddress();
      expect(await failure(backend.sendMany([{ address: to, amount: 1_000_000n }], { comment: 'too dear' }))).toMatchObject({
        code: 'fee_above_maximum',
      });
      expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
    });

    it('refuses to sign with a wrong PIN and submits nothing', async () => {
      const { fake, backend } = await funded({ pin: 'not-the-pin' });
      const error = await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 1_000_000n }], { comment: 'wrong pin' }));
      expect(error).toMatchObject({ code: 'wrong_pin' });
      expect((error as Error).message).not.toContain('not-the-pin');
      expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
    });

    it('refuses withdrawals without a PIN (receive-only configuration)', async () => {
      pair = await startBlockioPair({ pin: undefined });
      const { fake, backend } = pair;
      expect(await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 1n }], { comment: 'no pin' }))).toMatchObject({
        code: 'wrong_pin',
      });
      expect(fake.requests.get('prepare_transaction') ?? 0).toBe(0);
    });

    it('reconciles a submit whose answer is lost by its txid, without submitting again', async () => {
      const { fake, backend } = await funded({ timeoutMs: 300 });
      fake.faults.hangAfterNextSubmit();
      const to = fake.externalAddress();
      const result = await backend.sendMany([{ address: to, amount: 1_500_000n }], { comment: 'lost answer' });
      expect(fake.requests.get('submit_transaction')).toBe(1);
      expect(fake.chain.get(result.txid)?.outputs).toContainEqual({ address: to, amount: 1_500_000n });
      expect(await backend.findByComment('lost answer')).toMatchObject({ txid: result.txid, fee: result.fee });
    });

    it('says outcome_unknown when a lost submit is not at block.io, and finds it by comment once it is', async () => {
      const { fake, backend } = await funded({ timeoutMs: 300 });
      fake.faults.hangAfterNextSubmit();
      // The first raw read proves the value of the batch's one input; the second is the look-up.
      fake.faults.serverErrorNext('get_raw_transaction', 1);
      const error = await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 1_000_000n }], { comment: 'unknown' }));
      expect(error).toMatchObject({ code: OUTCOME_UNKNOWN, retryable: false });
      expect(fake.requests.get('submit_transaction')).toBe(1);
      const found = await backend.findByComment('unknown');
      expect(found?.txid).toMatch(TXID_PATTERN);
      expect(await backend.findByComment('never sent')).toBeUndefined();
    });

    it('does not retry a throttled submit: throttled, retryable, sent once when tried again', async () => {
      const { fake, backend } = await funded();
      fake.faults.throttleNext(1, 429, 'submit_transaction');
      const to = fake.externalAddress();
      expect(await failure(backend.sendMany([{ address: to, amount: 1_000_000n }], { comment: 'throttled' }))).toMatchObject({
        code: 'throttled',
        retryable: true,
      });
      expect(fake.requests.get('submit_transaction')).toBe(1);
      expect(fake.chain.newestFirst().some((tx) => tx.outputs.some((output) => output.address === to))).toBe(false);
      const sent = await backend.sendMany([{ address: to, amount: 1_000_000n }], { comment: 'throttled, again' });
      expect(fake.chain.get(sent.txid)?.outputs).toContainEqual({ address: to, amount: 1_000_000n });
      expect(fake.requests.get('submit_transaction')).toBe(2);
    });

    it('maps block.io refusals of a batch to the ledger refusal codes (nothing sent)', async () => {
      const { fake, backend } = await funded();
      fake.faults.failNext('prepare_transaction', 'Invalid address: xyz.');
      expect(await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 1_000_000n }], { comment: 'bad' }))).toMatchObject({
        code: 'invalid_request',
        retryable: true,
      });
      expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
    });
  });

  describe('readings', () => {
    it('reports a transaction block.io forgot (double spent) as conflicted while it remembers it', async () => {
      const { fake, backend } = await funded();
      const address = await backend.createAddress('vanishing');
      const txid = fake.pay(address, 2_000_000n);
      fake.mine(1);
      expect(await backend.getTransaction(txid)).toMatchObject({ confirmations: 1 });
      fake.chain.drop(txid);
      const reading = await backend.readTransactions([txid]);
      expect(reading.unknown).toEqual([]);
      expect(reading.transactions[0]).toMatchObject({ txid, confirmations: -1, received: [expect.objectContaining({ address })] });
      expect(reading.transactions[0]?.blockHash).toBeUndefined();
    });

    it('returns the address block.io already holds for a label whose creation answer was lost', async () => {
      const { backend } = await funded();
      const first = await backend.createAddress('same-label');
      expect(await backend.createAddress('same-label')).toBe(first);
      // A label block.io would refuse is replaced by a digest of it.
      const odd = await backend.createAddress('label with spaces/and:colons');
      expect(odd).not.toBe(first);
      // `default` is block.io's change address: a deposit address must never be it.
      const named = await backend.createAddress('default');
      const account = await backend.createAddress('Default');
      expect(new Set([first, odd, named, account]).size).toBe(4);
      const addresses = (
        await new BlockioClient({ apiUrl: pair!.fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 }).call<{
          addresses: { address: string; label: string }[];
        }>('get_my_addresses')
      ).addresses;
      const defaultAddress = addresses.find((entry) => entry.label === 'default')!.address;
      expect([named, account]).not.toContain(defaultAddress);
    });
  });
});
