/**
 * block.io's Bitcoin accounts answer with `P2WSH-over-P2SH` addresses and return change to the
 * address a withdrawal spends from (issue 10, review points 1 and 2). The first block rebuilds a
 * preparation recorded from the real block.io; the rest run against the fake handing out such
 * addresses and returning change that way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OUTCOME_UNKNOWN } from '../../src/backends/backend.js';
import { signerNetwork } from '../../src/backends/blockio/network.js';
import { checkPreparation, type Preparation, type PreparationContext } from '../../src/backends/blockio/preparation.js';
import { BTC } from '../../src/domain/coins.js';
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
    expect(error).toMatchObject({ code: 'invalid_request' });
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
