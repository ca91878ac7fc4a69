/**
 * block.io's Bitcoin accounts answer with `P2WSH-over-P2SH` addresses and return change to the
 * address a withdrawal spends from (issue 10, review points 1 and 2). The first block rebuilds a
 * preparation recorded from the real block.io; the rest run against the fake handing out such
 * addresses and returning change that way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { SigHash } from '@scure/btc-signer';
import { OUTCOME_UNKNOWN } from '../../src/backends/backend.js';
import { signerNetwork } from '../../src/backends/blockio/network.js';
import { checkPreparation, signPreparation, type Preparation, type PreparationContext } from '../../src/backends/blockio/preparation.js';
import { decryptUserKey } from '../../src/backends/blockio/user-key.js';
import { BTC, LTC } from '../../src/domain/coins.js';
import { BackendError } from '../../src/domain/errors.js';
import { startBlockioPair, type BlockioPair } from '../fakes/blockio/harness.js';
import type { FakeBlockioOptions } from '../fakes/blockio/server.js';

/**
 * Facts of a `prepare_transaction` answer of block.io for a BTC mainnet account, as recorded in a
 * public project (a `from_labels` withdrawal): its keys, addresses, amounts and the unsigned txid
 * block.io expected. Change went back to the spending address, not to `default`.
 */
const SPENDING = '3E6rnm7zPTMttVgbwr9drRfCgP2g6gYEsN';
const PAYEE = '32uVDCCwdBsXoSwUhhadqgVx4PwugL7VaJ';
const USER_PUBLIC_KEY = '02c08b3cb2973ce7ec1c48752726cd6c2ee0df44865ab775c6f9d780ec93e78917';
const recorded: Preparation = {
  network: 'BTC',
  tx_type: 'basic',
  inputs: [
    {
      input_index: 0,
      previous_txid: '8f612aee9e2af1be414248a158dfe4b2a4cd8305dea9a9a59bd6485005998ac9',
      previous_output_index: 1,
      input_value: '0.00006734',
      spending_address: SPENDING,
    },
  ],
  outputs: [
    { output_index: 0, output_category: 'user-specified', output_value: '0.00001000', receiving_address: PAYEE },
    { output_index: 1, output_category: 'change', output_value: '0.00003468', receiving_address: SPENDING },
  ],
  input_address_data: [
    {
      required_signatures: 2,
      public_keys: ['02d4f96d3f800ab99d6223de4521b1c46d17603b8ec0fdbf0347f2803e9f300494', USER_PUBLIC_KEY],
      address: SPENDING,
      address_type: 'P2WSH-over-P2SH',
    },
  ],
  user_key: { public_key: USER_PUBLIC_KEY, encrypted_passphrase: 'not needed to check' },
  expected_unsigned_txid: 'f76874361c6e266a3497d791da02ff8d5f67d7a7a377c7dadda3bc9a4dd65d03',
};

const recordedContext: PreparationContext = {
  requested: [{ address: PAYEE, amount: 1_000n }],
  network: signerNetwork(BTC.networks.mainnet!),
  networkName: 'BTC',
  rules: { decimals: BTC.decimals, maxMoney: BTC.maxMoney },
  isOurs: (address) => address === SPENDING,
  isChangeAddress: () => false,
  maxFee: 10_000n,
};

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

describe("block.io's recorded BTC preparation (P2WSH-over-P2SH, change to the spending address)", () => {
  it("is rebuilt to block.io's expected unsigned txid and accepted, its final txid known before signing", () => {
    const checked = checkPreparation(recorded, recordedContext);
    expect(checked.tx.id).toBe(recorded.expected_unsigned_txid);
    expect(checked.networkFee).toBe(6_734n - 1_000n - 3_468n);
    // The scriptSig pushes the redeem script: the broadcast txid is not the unsigned one.
    expect(checked.txid).toMatch(/^[0-9a-f]{64}$/);
    expect(checked.txid).not.toBe(recorded.expected_unsigned_txid);
  });

  it('keeps refusing plain P2SH inputs (Dogecoin): their txid would depend on signatures', () => {
    const p2sh = { ...recorded, input_address_data: recorded.input_address_data.map((data) => ({ ...data, address_type: 'P2SH' })) };
    expect(thrown(() => checkPreparation(p2sh, recordedContext))).toMatchObject({ code: 'preparation_tampered' });
  });

  it('refuses change to an address of ours the transaction does not spend from', () => {
    const other = '3Qhw2PkFTY78jjRVvi43V4AX3ENNXFNvqp';
    const moved = {
      ...recorded,
      outputs: recorded.outputs.map((o) => (o.output_category === 'change' ? { ...o, receiving_address: other } : o)),
    };
    const context = { ...recordedContext, isOurs: (address: string) => address === SPENDING || address === other };
    expect(thrown(() => checkPreparation(moved, context))).toMatchObject({ code: 'preparation_tampered' });
  });

  it('refuses a requested payment to the address being spent from: it would read back as change, never credited', () => {
    const toSelf = {
      ...recorded,
      outputs: recorded.outputs.map((o) => (o.output_category === 'user-specified' ? { ...o, receiving_address: SPENDING } : o)),
    };
    const context = { ...recordedContext, requested: [{ address: SPENDING, amount: 1_000n }] };
    const error = thrown(() => checkPreparation(toSelf, context));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'invalid_request', retryable: true });
    // To the account's change address it can never go through.
    const toDefault = { ...context, isChangeAddress: (address: string) => address === SPENDING };
    expect(thrown(() => checkPreparation(toSelf, toDefault))).toMatchObject({ code: 'invalid_request', retryable: false });
  });
});

/**
 * Facts of block.io's own client test vector (block_io-php, LTCTEST): a preparation of three
 * `P2WSH-over-P2SH` inputs with block.io's fee and change back to a spending address, the PIN of
 * its legacy-encrypted user key, the unsigned transaction and the user key's signatures its
 * clients must produce, and the txid block.io answered the submit with.
 */
const VECTOR_PIN = 'd1650160bd8d2bb32bebd139d0063eb6063ffa2f9e4501ad';
const VECTOR_USER_KEY = '034309721935937713a2dd1c33c5c44a10a30674bebe0542aeb145ce4c9790e742';
const [Q1, Q2, PAYEE_Q] = [
  'Qjgm6PfqcCmQr31DKnnch7zwG7sFpVc7xb',
  'QN7WkTwGmTxEnK4EpzsspPofsKPXvjLKxC',
  'QN9ShoLwKTnW7ms7bfSrH7YgMPh2cjUkdi',
];
const vector: Preparation = {
  network: 'LTCTEST',
  tx_type: 'basic',
  inputs: [
    ['5d5d9a902f572449786ce65a586481dfa646f66f8500cadbed811eaf82370630', 0, '0.00249485', Q1],
    ['adc348dcfed62799718e375d9097fa71d2a321c9137c4a52067a13181203ead4', 0, '0.00090000', Q2],
    ['9ffa4dceac8b09fb099fb0ebcc5d0bcb132c98b3e8a2b1381d8d9654f82a5cf0', 1, '0.17464160', Q2],
  ].map(([txid, vout, value, address], i) => ({
    input_index: i,
    previous_txid: txid as string,
    previous_output_index: vout as number,
    input_value: value as string,
    spending_address: address as string,
  })),
  outputs: [
    { output_index: 0, output_category: 'user-specified', output_value: '0.01234500', receiving_address: PAYEE_Q },
    {
      output_index: 1,
      output_category: 'blockio-fee',
      output_value: '0.00012345',
      receiving_address: 'tltc1qyhn4wkpzt0e8qm7a9kk8v0cpxn775wlqfgl32s20n00p3q5q7uksc4xqfe',
    },
    { output_index: 2, output_category: 'change', output_value: '0.16546580', receiving_address: Q2 },
  ],
  input_address_data: [
    [Q1, '0325e036e22b3ee1593baba8052e92505a11446a1ba3e8bc3f9f74b17f2e6b6a3e'],
    [Q2, '03b934de0933b8b80051530d353f5fb22ec7e5d6233d8b6bf2ddcaf7119e2f4fe7'],
  ].map(([address, blockioKey]) => ({
    required_signatures: 2,
    public_keys: [blockioKey!, VECTOR_USER_KEY],
    address: address!,
    address_type: 'P2WSH-over-P2SH',
  })),
  user_key: {
    public_key: VECTOR_USER_KEY,
    encrypted_passphrase:
      'UMT6oOUQf/hRNCdiSc3HAHRdn95G9iSxvU5pqTCveqaQxpVShoyCBfgDOfzbgrk3Cw4oNY0sBStoWqCc4ha4kFXBblt/6DzxV7YBD2lDkjGYdrYISrGG+kAHEbLxcVwHL/6Feep9ve3NgvCSEV0MTrm2HBNfX1ke/+XBoYhn7ZX9QioLnUJW5ZH1OkSdM849',
  },
  expected_unsigned_txid: '4ee43869f50d226686a0ad0949e4adeb02f4d93bb7ea2efda62dfc36f2a1b0b7',
};
const VECTOR_UNSIGNED_HEX =
  '010000000330063782af1e81eddbca00856ff646a6df8164585ae66c784924572f909a5d5d0000000000ffffffffd4ea031218137a06524a7c13c921a3d271fa97905d378e719927d6fedc48c3ad0000000000fffffffff05c2af854968d1d38b1a2e8b3982c13cb0b5dccebb09f09fb098bacce4dfa9f0100000000ffffffff0344d612000000000017a91410eb388a17a299ed87b8962e25efdb15f3cd86fe87393000000000000022002025e75758225bf2706fdd2dac763f0134fdea3be04a3f15414f9bde188280f72d147bfc000000000017a914108dc42df9d23e581d09a512cd38f58b48bd444d8700000000';
const VECTOR_SIGNATURES = [
  '3044022024d0b5749b7c198f5bc57a61e63dddf9b90b5c98ae53b063b647fb98c8be61090220794354afeaae1447fe9d60fb101990d55855ca90c5ac5290f4cb18aadf2ca65a',
  '3044022074abc51fc7f25405053de3e4f861ff75400a64053fe7ccb93cd15b642a428ea5022043ec5b19cabedfe164e1b05fbedb675c060ab5f6f390132442bf712289d29036',
  '304402201591e9a6fe6dee39da9883ed550d3fbe26f347fd2e1ad492f6a59643059d0b8102207c550357b459852d05577c5069391740267878c420e55e9aca47e1c672680348',
];
const VECTOR_SUBMITTED_TXID = '334038f488a684e0960058548670732d753c9a9ee2fcb4a98e1f71de2b753be1';

describe("block.io's own client test vector (LTCTEST, three P2WSH-over-P2SH inputs, block.io fee, change to a spending address)", () => {
  const context: PreparationContext = {
    requested: [{ address: PAYEE_Q, amount: 1_234_500n }],
    network: signerNetwork(LTC.networks.testnet!),
    networkName: 'LTCTEST',
    rules: { decimals: LTC.decimals, maxMoney: LTC.maxMoney },
    isOurs: (address) => address === Q1 || address === Q2,
    isChangeAddress: () => false,
    maxFee: 100_000n,
  };

  it('rebuilds the unsigned transaction, signs over the sighashes block.io signs, and knows the submitted txid before submitting', () => {
    const checked = checkPreparation(vector, context);
    expect(checked.tx.hex).toBe(VECTOR_UNSIGNED_HEX);
    expect(checked.blockioFee).toBe(12_345n);
    expect(checked.networkFee).toBe(249_485n + 90_000n + 17_464_160n - 1_234_500n - 12_345n - 16_546_580n);
    expect(checked.txid).toBe(VECTOR_SUBMITTED_TXID);
    const submission = signPreparation(checked, decryptUserKey(vector.user_key, VECTOR_PIN), VECTOR_USER_KEY);
    expect(submission.tx_hex).toBe(VECTOR_UNSIGNED_HEX);
    // block.io's signatures verify over our sighashes, and ours over the same (nonces may differ).
    submission.signatures.forEach((ours, i) => {
      const sighash = checked.tx.preimageWitnessV0(i, checked.witnessScripts[i]!, SigHash.ALL, checked.inputValues[i]!);
      const verify = (signature: string) =>
        secp256k1.verify(hexToBytes(signature), sighash, hexToBytes(VECTOR_USER_KEY), { prehash: false, format: 'der' });
      expect(verify(VECTOR_SIGNATURES[i]!)).toBe(true);
      expect(verify(ours.signature)).toBe(true);
    });
  });
});

describe('block.io backend on wrapped-segwit addresses with change back to the spending address (fake)', () => {
  let pair: BlockioPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  const realistic: Partial<FakeBlockioOptions> = { addressType: 'P2WSH-over-P2SH', changeTo: 'spending_address' };

  /** A backend whose account holds one confirmed deposit of `amount` on a customer's address. */
  async function withDeposit(amount: bigint, config: Parameters<typeof startBlockioPair>[0] = {}) {
    pair = await startBlockioPair(config, realistic);
    const address = await pair.backend.createAddress('customer-1');
    pair.fake.pay(address, amount);
    pair.fake.mine(1);
    return { ...pair, address };
  }

  it('signs and sends; block.io verifies the signatures; the change is neither received nor sent', async () => {
    const { fake, backend, address } = await withDeposit(20_000_000n);
    const to = fake.externalAddress();
    const result = await backend.sendMany([{ address: to, amount: 5_000_000n }], { comment: 'wrapped' });
    const onChain = fake.chain.get(result.txid)!;
    expect(onChain).toBeDefined();
    const change = onChain.outputs.find((output) => output.address === address);
    expect(change?.amount).toBe(20_000_000n - 5_000_000n - result.fee);
    const info = await backend.getTransaction(result.txid);
    expect(info.received).toEqual([]);
    expect(info.sent).toEqual([expect.objectContaining({ address: to, amount: 5_000_000n })]);
    expect(info.fee).toBe(result.fee);
    const changes = await backend.changesSince(null, 10);
    const deposits = changes.transactions.flatMap((tx) => tx.received);
    expect(deposits).toEqual([expect.objectContaining({ address, amount: 20_000_000n })]);
  });

  it('settles a submit whose answer was lost by the txid computed before signing, without a second submit', async () => {
    const { fake, backend } = await withDeposit(20_000_000n, { timeoutMs: 300 });
    fake.faults.hangAfterNextSubmit();
    const result = await backend.sendMany([{ address: fake.externalAddress(), amount: 5_000_000n }], { comment: 'lost' });
    expect(fake.chain.get(result.txid)).toBeDefined();
    expect(fake.requests.get('submit_transaction')).toBe(1);
  });

  it('reports an unsettled lost submit as outcome unknown, never sending again', async () => {
    const { fake, backend } = await withDeposit(20_000_000n, { timeoutMs: 300 });
    fake.faults.hangAfterNextSubmit();
    fake.faults.serverErrorNext('get_raw_transaction', 1);
    let error: unknown;
    await backend.sendMany([{ address: fake.externalAddress(), amount: 5_000_000n }], { comment: 'unsettled' }).catch((e: unknown) => {
      error = e;
    });
    expect(error).toMatchObject({ code: OUTCOME_UNKNOWN });
    const found = await backend.findByComment('unsettled');
    expect(found && fake.chain.get(found.txid)).toBeDefined();
    expect(fake.requests.get('submit_transaction')).toBe(1);
  });

  it.each(['foreign_change', 'change_to_deposit', 'extra_output'] as const)('still refuses %s before signing', async (kind) => {
    const { fake, backend } = await withDeposit(20_000_000n);
    await backend.createAddress('customer-2');
    fake.faults.tamperNext(kind);
    const error = await backend.sendMany([{ address: fake.externalAddress(), amount: 5_000_000n }], { comment: kind }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'preparation_tampered', retryable: false });
    expect(fake.requests.get('submit_transaction') ?? 0).toBe(0);
  });
});
