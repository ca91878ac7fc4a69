/**
 * A `prepare_transaction` answer, checked before anything is signed, then signed.
 *
 * block.io builds the transaction and the client signs it: whoever controls the answer (a
 * compromised service, a proxy, a bug) chooses what our signature pays. So nothing in it is
 * taken on trust: the transaction is rebuilt from its inputs and outputs and must be exactly
 * the requested outputs (same addresses, same amounts, each once), plus at most one change
 * output to the account's change address, plus block.io's fee output if any, never to an address
 * of ours (an output to a deposit address reads back as a deposit: change or a "fee" there would
 * credit a customer with our money); each input's value is the one its previous transaction
 * holds (checked by the caller, see `checkInputValues`); the network fee
 * (inputs − outputs) must be at most the configured maximum; the rebuilt transaction's id must
 * be the one block.io expects. Only then is each input signed with the user key, and only the
 * inputs whose 2-of-2 script holds that key.
 */
import { p2ms, p2sh, p2wsh, Script, SigHash, Transaction } from '@scure/btc-signer';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { SendOutputRequest } from '../backend.js';
import { parseAmount, type AmountRules } from '../../domain/amounts.js';
import { BackendError } from '../../domain/errors.js';
import type { SignerNetwork } from './network.js';
import type { EncryptedUserKey } from './user-key.js';

/** One input of a preparation. */
export interface PreparedInput {
  readonly input_index: number;
  readonly previous_txid: string;
  readonly previous_output_index: number;
  readonly input_value: string;
  readonly spending_address: string;
}

/** One output of a preparation; `output_category` is `user-specified`, `change` or `blockio-fee`. */
export interface PreparedOutput {
  readonly output_index: number;
  readonly output_category: string;
  readonly output_value: string;
  readonly receiving_address: string;
}

/** How an input's address is made. */
export interface InputAddressData {
  readonly required_signatures: number;
  readonly public_keys: readonly string[];
  readonly address: string;
  readonly address_type: string;
}

/** The `data` of a `prepare_transaction` answer. */
export interface Preparation {
  readonly network: string;
  readonly tx_type: string;
  readonly inputs: readonly PreparedInput[];
  readonly outputs: readonly PreparedOutput[];
  readonly input_address_data: readonly InputAddressData[];
  readonly user_key: EncryptedUserKey;
  readonly expected_unsigned_txid?: string;
}

/** What the checks established. */
export interface CheckedPreparation {
  /** Inputs − outputs. */
  readonly networkFee: bigint;
  /** block.io's own fee output, 0 when there is none. */
  readonly blockioFee: bigint;
  /** The unsigned transaction, rebuilt by us. */
  readonly tx: Transaction;
  /**
   * The txid the transaction will have. Its inputs are segwit: signatures go to the witness, and a
   * P2SH-wrapped input's scriptSig only pushes its fixed redeem script, so the txid is known
   * before signing (block.io's `expected_unsigned_txid` is the id without those scriptSigs).
   */
  readonly txid: string;
  readonly inputValues: readonly bigint[];
  readonly witnessScripts: readonly Uint8Array[];
}

/** What the checks need to know besides the preparation. */
export interface PreparationContext {
  readonly requested: readonly SendOutputRequest[];
  readonly network: SignerNetwork;
  readonly networkName: string;
  readonly rules: AmountRules;
  /** Whether an address belongs to our account. */
  readonly isOurs: (address: string) => boolean;
  /** Whether an address is the account's change address (block.io's `default`); see `isChangeOutput`. */
  readonly isChangeAddress: (address: string) => boolean;
  /** Largest network fee plus block.io fee of one batch, base units. */
  readonly maxFee: bigint;
}

/** The typed refusal of a preparation; nothing was signed or submitted. */
export function tampered(detail: string): BackendError {
  return new BackendError(`block.io's prepared transaction was refused before signing: ${detail}`, {
    retryable: false,
    code: 'preparation_tampered',
  });
}

/**
 * Check a preparation against the request and rebuild its unsigned transaction.
 * @throws BackendError `preparation_tampered` or `fee_above_maximum`.
 */
export function checkPreparation(preparation: Preparation, context: PreparationContext): CheckedPreparation {
  try {
    return checkWellFormed(preparation, context);
  } catch (error) {
    // A malformed answer (a missing list, a bad txid, an address of another network) is refused
    // like a tampered one: anything but a BackendError would count as "maybe sent" upstream.
    if (error instanceof BackendError) throw error;
    const detail = error instanceof Error ? error.message.replace(/\s+/g, ' ').slice(0, 200) : 'unreadable';
    throw tampered(`it is malformed (${detail})`);
  }
}

function checkWellFormed(preparation: Preparation, context: PreparationContext): CheckedPreparation {
  if (preparation.network !== context.networkName) throw tampered(`network ${preparation.network}, not ${context.networkName}`);
  if (preparation.tx_type !== 'basic') throw tampered(`transaction type ${preparation.tx_type}`);
  const amount = (text: string): bigint => {
    try {
      return parseAmount(text, context.rules);
    } catch {
      throw tampered(`amount ${JSON.stringify(text)} is not valid`);
    }
  };

  // Outputs: each requested one exactly once, in any order; the rest change or block.io's fee.
  // The spending addresses are proven ours with the inputs below, before anything is signed.
  const spending = new Set(preparation.inputs.map((input) => input.spending_address));
  const changeGoesTo = (address: string): boolean => isChangeOutput(address, spending, context.isChangeAddress);
  const unmatched = context.requested.map((output) => ({ ...output }));
  let changeOutputs = 0;
  let blockioFee = 0n;
  let outputSum = 0n;
  for (const output of preparation.outputs) {
    const value = amount(output.output_value);
    outputSum += value;
    if (output.output_category === 'user-specified') {
      const index = unmatched.findIndex((wanted) => wanted.address === output.receiving_address && wanted.amount === value);
      if (index < 0)
        throw tampered(`output ${output.output_index} pays ${output.output_value} to ${output.receiving_address}, which was not requested`);
      unmatched.splice(index, 1);
      if (changeGoesTo(output.receiving_address)) throw payingChangeAddress(output.receiving_address, context.isChangeAddress);
    } else if (output.output_category === 'change') {
      if (!changeGoesTo(output.receiving_address))
        throw tampered(`change goes to ${output.receiving_address}, neither this account's change address nor an address it spends from`);
      changeOutputs++;
    } else if (output.output_category === 'blockio-fee') {
      if (context.isOurs(output.receiving_address))
        throw tampered(`block.io's fee goes to ${output.receiving_address}, an address of this account`);
      blockioFee += value;
    } else {
      throw tampered(`output ${output.output_index} has the unknown category ${output.output_category}`);
    }
  }
  if (unmatched.length > 0) throw tampered(`${unmatched.length} requested output(s) missing`);
  if (changeOutputs > 1) throw tampered(`${changeOutputs} change outputs`);

  const inputValues = preparation.inputs.map((input) => amount(input.input_value));
  const inputSum = inputValues.reduce((sum, value) => sum + value, 0n);
  const networkFee = inputSum - outputSum;
  if (networkFee <= 0n) throw tampered(`inputs ${inputSum} do not exceed outputs ${outputSum}`);
  if (networkFee + blockioFee > context.maxFee) {
    throw new BackendError(`block.io's prepared fee ${networkFee + blockioFee} is above max_fee ${context.maxFee}; nothing was sent`, {
      retryable: false,
      code: 'fee_above_maximum',
    });
  }

  // Rebuild the transaction from what was checked; block.io's expected txid must agree with it.
  const tx = new Transaction({ version: 1, lockTime: 0 });
  const wrapped: { index: number; redeemScript: Uint8Array }[] = [];
  const witnessScripts = preparation.inputs.map((input, i) => {
    if (input.input_index !== i) throw tampered(`input ${i} is numbered ${input.input_index}`);
    if (!context.isOurs(input.spending_address)) throw tampered(`input ${i} spends ${input.spending_address}, not an address of ours`);
    const data = preparation.input_address_data.find((candidate) => candidate.address === input.spending_address);
    if (!data) throw tampered(`input ${i}'s address is not described`);
    if (data.required_signatures !== 2 || data.public_keys.length !== 2)
      throw tampered(`input ${i}'s address is not a 2-of-2 multisig address`);
    if (!data.public_keys.includes(preparation.user_key.public_key)) throw tampered(`input ${i}'s address does not hold our key`);
    const multisig = p2ms(
      2,
      data.public_keys.map((key) => hexToBytes(key)),
    );
    const payment = witnessPayment(data.address_type, multisig, context.network, i);
    if (payment.address !== input.spending_address) throw tampered(`input ${i}'s keys do not make ${input.spending_address}`);
    tx.addInput({
      txid: input.previous_txid,
      index: input.previous_output_index,
      sequence: 0xffffffff,
      witnessUtxo: { script: payment.script, amount: inputValues[i]! },
      witnessScript: multisig.script,
      ...(payment.redeemScript === undefined ? {} : { redeemScript: payment.redeemScript }),
    });
    if (payment.redeemScript !== undefined) wrapped.push({ index: i, redeemScript: payment.redeemScript });
    return multisig.script;
  });
  for (const output of [...preparation.outputs].sort((a, b) => a.output_index - b.output_index)) {
    tx.addOutputAddress(output.receiving_address, amount(output.output_value), context.network);
  }
  const unsignedTxid = tx.id;
  if (preparation.expected_unsigned_txid !== undefined && preparation.expected_unsigned_txid !== unsignedTxid) {
    throw tampered(`the transaction rebuilt from the answer is ${unsignedTxid}, block.io expects ${preparation.expected_unsigned_txid}`);
  }
  // The final scriptSigs are known now: fill them into a copy to learn the txid after signing.
  const final = tx.clone();
  for (const { index, redeemScript } of wrapped) final.updateInput(index, { finalScriptSig: Script.encode([redeemScript]) }, true);
  return { networkFee, blockioFee, tx, txid: final.id, inputValues, witnessScripts };
}

/**
 * Whether an output of our own send to `address` is its change: to the account's change address
 * (`default`) or back to an address the transaction spends from (what block.io does for
 * `P2WSH-over-P2SH` accounts). The same rule reads our sends back (`wallet-view.ts`), so that
 * change is never credited to the customer whose deposit address it lands on.
 */
export function isChangeOutput(
  address: string,
  spendingAddresses: ReadonlySet<string>,
  isChangeAddress: (address: string) => boolean,
): boolean {
  return isChangeAddress(address) || spendingAddresses.has(address);
}

/**
 * The payment of a 2-of-2 multisig input. Only address types whose txid does not depend on the
 * signatures are signed: an interrupted submit must be settled by txid, never by sending again.
 * Plain P2SH (block.io's Dogecoin addresses) puts block.io's signature in the scriptSig, so the
 * txid is unknown until block.io finalises it.
 */
function witnessPayment(addressType: string, multisig: ReturnType<typeof p2ms>, network: SignerNetwork, input: number) {
  if (addressType === 'WITNESS_V0') return { ...p2wsh(multisig, network), redeemScript: undefined };
  if (addressType === 'P2WSH-over-P2SH') return p2sh(p2wsh(multisig, network), network);
  throw tampered(`input ${input}'s address type ${addressType} is not supported (only WITNESS_V0 and P2WSH-over-P2SH)`);
}

/**
 * A requested output to an address the reading would take for change of this send: its amount
 * would never be credited. Not tampering, and nothing was signed. Paying an address being spent
 * from may go through with another preparation (block.io chooses the inputs); paying the
 * account's change address never will.
 */
function payingChangeAddress(address: string, isChangeAddress: (address: string) => boolean): BackendError {
  const always = isChangeAddress(address);
  const why = always ? "it is this account's change address" : 'this transaction spends from it';
  return new BackendError(`a withdrawal to ${address} was refused before signing: ${why}, so the payment would read back as change`, {
    retryable: !always,
    code: 'invalid_request',
  });
}

/** An output a preparation's input spends, as its own raw transaction shows it. */
export interface ProvenOutput {
  readonly address: string | undefined;
  readonly amount: bigint;
}

/**
 * Check each input's stated value and address against the output it spends, read from that
 * output's own transaction (`previous[i]` for input i, undefined when block.io does not know it).
 * A witness signature commits to the amount the signer states, input by input: signatures made
 * for two preparations of one transaction, each lying about a different input, combine into a
 * valid transaction whose real fee nobody checked. So no stated value is signed unproven.
 * @throws BackendError `preparation_tampered`.
 */
export function checkInputValues(
  checked: CheckedPreparation,
  preparation: Preparation,
  previous: readonly (ProvenOutput | undefined)[],
): void {
  preparation.inputs.forEach((input, i) => {
    const output = previous[i];
    if (!output) throw tampered(`input ${i} spends ${input.previous_txid}:${input.previous_output_index}, which block.io cannot show`);
    if (output.address !== input.spending_address || output.amount !== checked.inputValues[i])
      throw tampered(
        `input ${i} is stated as ${input.input_value} of ${input.spending_address}; the output it spends holds ${output.amount} of ${String(output.address)}`,
      );
  });
}

/** The `transaction_data` of `submit_transaction`: the unsigned transaction and our signatures. */
export interface SignedSubmission {
  readonly tx_type: string;
  readonly tx_hex: string;
  readonly signatures: readonly { input_index: number; public_key: string; signature: string }[];
}

/** Sign every input of a checked preparation with the user key (DER, low-S, SIGHASH_ALL). */
export function signPreparation(checked: CheckedPreparation, userKey: Uint8Array, userPublicKey: string): SignedSubmission {
  const signatures = checked.witnessScripts.map((script, index) => {
    const sighash = checked.tx.preimageWitnessV0(index, script, SigHash.ALL, checked.inputValues[index]!);
    const signature = secp256k1.sign(sighash, userKey, { prehash: false, format: 'der', lowS: true });
    return { input_index: index, public_key: userPublicKey, signature: bytesToHex(signature) };
  });
  return { tx_type: 'basic', tx_hex: checked.tx.hex, signatures };
}
