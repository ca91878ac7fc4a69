/**
 * Review of issue 10: the block.io backend attacked as block.io itself (or a man in the middle)
 * would attack it, against the fake block.io. Each test names the defect it shows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { OUTCOME_UNKNOWN } from '../../src/backends/backend.js';
import { BlockioClient } from '../../src/backends/blockio/client.js';
import { BlockioBackend } from '../../src/backends/blockio/index.js';
import { signerNetwork } from '../../src/backends/blockio/network.js';
import { checkPreparation, type Preparation } from '../../src/backends/blockio/preparation.js';
import { decryptUserKey } from '../../src/backends/blockio/user-key.js';
import { LTC } from '../../src/domain/coins.js';
import { BackendError } from '../../src/domain/errors.js';
import { FAKE_API_KEY, startBlockioPair, type BlockioPair } from '../fakes/blockio/harness.js';
import { TX_OPTIONS, type Tamper } from '../fakes/blockio/server.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    },
    (error: unknown) => error,
  );
}

describe('review 10: block.io preparations, submits and readings under attack', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  async function funded(fakeOptions: Parameters<typeof startBlockioPair>[1] = {}): Promise<BlockioPair> {
    pair = await startBlockioPair({}, fakeOptions);
    pair.fake.fund(50_000_000n);
    return pair;
  }

  // Change to a customer's deposit address (ours, but not block.io's `default` change address) is
  // read back as a receive to that address: the customer would be credited with our change.
  // A `blockio-fee` output to a deposit address is the same theft, bounded by max_fee.
  const ourAddressTampers: Tamper[] = ['change_to_deposit', 'fee_to_deposit'];
  it.each(ourAddressTampers)('refuses %s: an output of ours that is not change-to-self is never signed', async (kind) => {
    const { fake, backend } = await funded();
    await backend.createAddress('customer-7');
    fake.faults.tamperNext(kind);
    const error = await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 3_000_000n }], { comment: kind }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'preparation_tampered', retryable: false });
    expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
  });

  // BIP143 signs each input's amount alone: two signatures over the same transaction made from two
  // preparations lying about different inputs combine into a valid transaction whose real fee
  // nobody checked. An input value must be proven by its previous transaction, not taken on trust.
  it('refuses a preparation that understates an input value, before signing', async () => {
    const { fake, backend } = await funded();
    fake.faults.tamperNext('input_value_understated');
    const error = await failure(backend.sendMany([{ address: fake.externalAddress(), amount: 3_000_000n }], { comment: 'lie' }));
    expect(error).toMatchObject({ code: 'preparation_tampered', retryable: false });
    expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
  });

  // The reconciler closes an interrupted broadcast with `findByComment(...).fee`: it must be the
  // fee `sendMany` books (network fee + block.io's fee), or block.io's fee is never booked.
  it("findByComment reports the same fee as sendMany, block.io's fee included", async () => {
    const { fake, backend } = await funded({ blockioFee: 5_000n });
    const result = await backend.sendMany([{ address: fake.externalAddress(), amount: 1_000_000n }], { comment: 'fee once' });
    expect(await backend.findByComment('fee once')).toMatchObject({ txid: result.txid, fee: result.fee });
  });

  it("findByComment after a lost submit answer books block.io's fee too", async () => {
    pair = await startBlockioPair({ timeoutMs: 300 }, { blockioFee: 5_000n });
    const { fake, backend } = pair;
    fake.fund(50_000_000n);
    fake.faults.hangAfterNextSubmit();
    // The first raw read proves the value of the batch's one input; the second is the look-up.
    fake.faults.serverErrorNext('get_raw_transaction', 1);
    const to = fake.externalAddress();
    const error = await failure(backend.sendMany([{ address: to, amount: 1_000_000n }], { comment: 'lost' }));
    expect(error).toMatchObject({ code: OUTCOME_UNKNOWN });
    const onChain = fake.chain.newestFirst().find((tx) => tx.outputs.some((output) => output.address === to))!;
    const inputSum = onChain.inputs.reduce((sum, input) => sum + fake.chain.get(input.txid)!.outputs[input.vout]!.amount, 0n);
    const outputSum = onChain.outputs.reduce((sum, output) => sum + output.amount, 0n);
    expect(await backend.findByComment('lost')).toMatchObject({ txid: onChain.txid, fee: inputSum - outputSum + 5_000n });
  });

  // A `fail` answer to a submit is taken as proof that nothing went out, and the ledger sends the
  // batch again. block.io may have broadcast it anyway (an internal error after relaying): the
  // txid is known before the submit, so it is looked up before anything is declared unsent.
  it('a submit answered with fail after block.io broadcast it is not reported as unsent', async () => {
    const { fake, backend } = await funded();
    fake.faults.failAfterNextSubmit('Internal error. Please try again.');
    const to = fake.externalAddress();
    const result = await backend
      .sendMany([{ address: to, amount: 1_000_000n }], { comment: 'fail but sent' })
      .catch((error: unknown) => error);
    const onChain = fake.chain.newestFirst().find((tx) => tx.outputs.some((output) => output.address === to));
    expect(onChain).toBeDefined();
    // Either the send is reported (the ledger closes the broadcast) or its outcome is unknown (kept
    // open for the reconciler): never a refusal, which returns the withdrawals to the queue.
    if (result instanceof Error) expect(result).toMatchObject({ code: OUTCOME_UNKNOWN });
    else expect(result).toMatchObject({ txid: onChain!.txid });
    // A refusal of a submit block.io did not carry out stays a refusal: nothing went out.
    fake.faults.failNext('submit_transaction', 'Invalid signature for input 0.');
    const refused = await failure(backend.sendMany([{ address: to, amount: 2_000_000n }], { comment: 'refused' }));
    expect(refused).toMatchObject({ code: 'invalid_request', retryable: true });
  });
});

describe('review 10: readings under a throttled API', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  // Every transaction has outputs that are not ours (a payer's change, our withdrawals'
  // destinations). Reading the account's whole address list (one request per 2 500 addresses)
  // again for each of them multiplies every reading by the list's size and runs into block.io's
  // rate limits: an address found foreign at the last list reading is not a reason to read it again.
  it('reads the address list again only for an address it has not yet found foreign', async () => {
    pair = await startBlockioPair();
    const { fake, backend } = pair;
    const address = await backend.createAddress('customer-1');
    const txid = fake.payMany([
      { address, amount: 2_000_000n },
      { address: fake.externalAddress(), amount: 7_000_000n },
    ]);
    fake.mine(1);
    await backend.getTransaction(txid);
    const afterFirst = fake.requests.get('get_my_addresses') ?? 0;
    for (let round = 0; round < 3; round++) await backend.getTransaction(txid);
    await backend.readTransactions([txid]);
    expect(fake.requests.get('get_my_addresses') ?? 0).toBe(afterFirst);
  });
});

describe('review 10: paging that never advances', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  // A broken or hostile paging (the same page again, `has_more` for ever) must end in a typed
  // error, not in requests for as long as block.io keeps answering.
  it('fails as garbage when get_transactions or get_my_addresses answers the same page again', async () => {
    pair = await startBlockioPair();
    const { fake, backend } = pair;
    const address = await backend.createAddress('customer-3');
    const txid = fake.pay(address, 1_000_000n);
    fake.mine(1);
    fake.faults.repeatFirstPage('get_transactions', 20);
    await expect(backend.changesSince(null, 6)).rejects.toMatchObject({ code: 'garbage' });
    const fresh = new BlockioBackend({ config: pair.config, coin: pair.coin, network: pair.network });
    fake.faults.repeatFirstPage('get_my_addresses', 20);
    await expect(fresh.getTransaction(txid)).rejects.toMatchObject({ code: 'garbage' });
    await fresh.close();
  });
});

describe('review 10: a deposit spending many outputs of its payer', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  // Whether a transaction is our send is decided by its inputs. block.io never mixes inputs of
  // the account with others (it signs only ours, and we sign only preparations spending only
  // ours), so the first input decides: reading the previous transaction of every input of every
  // deposit costs a request per payer input, each read again at each confirmation.
  it("reads one previous transaction of a payer's deposit, not one per input", async () => {
    pair = await startBlockioPair();
    const { fake, backend } = pair;
    const address = await backend.createAddress('customer-2');
    const inputs = Array.from({ length: 6 }, () => ({ txid: fake.pay(fake.externalAddress(), 1_000_000n), vout: 0 }));
    const tx = new Transaction(TX_OPTIONS);
    for (const input of inputs) tx.addInput({ txid: input.txid, index: input.vout });
    const signer = signerNetwork(LTC.networks.testnet!);
    tx.addOutputAddress(address, 5_000_000n, signer);
    fake.chain.add(tx.id, tx.hex, inputs, [{ address, amount: 5_000_000n }]);
    fake.mine(1);
    const before = fake.requests.get('get_raw_transaction') ?? 0;
    const info = await backend.getTransaction(tx.id);
    expect(info.received).toEqual([{ address, amount: 5_000_000n, vout: 0 }]);
    expect(info.sent).toEqual([]);
    expect((fake.requests.get('get_raw_transaction') ?? 0) - before).toBe(2);
  });
});

describe('review 10: a malformed preparation', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  // Anything but a BackendError from sendMany counts as "maybe sent": the broadcast would wait for
  // a person to vet it although nothing was signed. A malformed answer is a refusal like any other.
  it('is refused with preparation_tampered, never a raw exception', async () => {
    pair = await startBlockioPair();
    pair.fake.fund(50_000_000n);
    const client = new BlockioClient({ apiUrl: pair.fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
    const to = pair.fake.externalAddress();
    const good = await client.call<Preparation>('prepare_transaction', { to_addresses: to, amounts: '0.01000000', priority: 'low' });
    const mine = await client.call<{ addresses: { address: string; label: string }[] }>('get_my_addresses');
    const labels = new Map(mine.addresses.map((entry) => [entry.address, entry.label]));
    const context = {
      requested: [{ address: to, amount: 1_000_000n }],
      network: signerNetwork(LTC.networks.testnet!),
      networkName: 'LTCTEST',
      rules: { decimals: LTC.decimals, maxMoney: LTC.maxMoney },
      isOurs: (address: string) => labels.has(address),
      isChangeAddress: (address: string) => labels.get(address) === 'default',
      maxFee: 1_000_000n,
    };
    expect(checkPreparation(good, context).txid).toBe(good.expected_unsigned_txid);
    // An LTC mainnet address (`ltc1…`) as block.io's fee output on testnet.
    const mainnetAddress = p2wpkh(
      secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true),
      signerNetwork(LTC.networks.mainnet!),
    ).address!;
    const variants: unknown[] = [
      {
        ...good,
        outputs: [
          ...good.outputs,
          { output_index: 9, output_category: 'blockio-fee', output_value: '0.00001000', receiving_address: mainnetAddress },
        ],
      },
      { ...good, outputs: null },
      { ...good, inputs: good.inputs.map((input) => ({ ...input, previous_txid: 'zz' })) },
    ];
    for (const variant of variants) {
      let error: unknown;
      try {
        checkPreparation(variant as Preparation, context);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ code: 'preparation_tampered' });
    }
  });
});

describe('review 10: the user key parameters come from block.io', () => {
  // Key lengths other than block.io's 16 and 32 are a hostile answer (or one this version cannot
  // read), not a wrong PIN; an absurd length would also stall the process in PBKDF2.
  it('refuses PBKDF2 key lengths block.io never uses as tampering, not as a wrong PIN', () => {
    const algorithm = {
      pbkdf2_salt: '00',
      pbkdf2_iterations: 2048,
      pbkdf2_hash_function: 'SHA256',
      pbkdf2_phase1_key_length: 16,
      pbkdf2_phase2_key_length: 64,
      aes_iv: null,
      aes_cipher: 'AES-256-ECB',
      aes_auth_tag: null,
      aes_auth_data: null,
    };
    let error: unknown;
    try {
      decryptUserKey({ public_key: '02'.padEnd(66, '1'), encrypted_passphrase: '3wIJtPoC8KO6S7x6LtrN0g==', algorithm }, 'deadbeef');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toMatchObject({ code: 'preparation_tampered' });
  });
});
