/**
 * Address validation and encoding for one coin network at a time. Nothing here assumes mainnet:
 * the same string can be valid on one network and `wrong_network` on another, so every function
 * takes the network explicitly.
 */
import type { NetworkParams } from './coins.js';
import { InvalidAddress } from './errors.js';
import { classifyBase58, decodeBase58Address, encodeBase58Address } from './address/base58.js';
import { encodeSegwitAddress, looksLikeSegwit, validateSegwit } from './address/segwit.js';
import { fail, type AddressCheck, type AddressFailure, type EncodableAddressKind } from './address/types.js';

export type { AddressCheck, AddressKind, EncodableAddressKind } from './address/types.js';

/** BIP173's limit for bech32; base58 addresses are at most 35 characters, well below it. */
const MAX_ADDRESS_LENGTH = 90;

/**
 * Check that `address` is a valid address of `network` and say what kind it is.
 *
 * Never throws, whatever `address` is: anything other than a string, and a string of nothing but
 * whitespace, is refused as `empty`. Surrounding whitespace is not trimmed but refused
 * (`bad_character`), so that the stored address is exactly what was checked.
 *
 * @returns on success the kind and the canonical form (bech32/bech32m lowercased, base58 as given);
 *   on failure one `AddressErrorReason` and a one-line detail that does not repeat the address.
 */
export function validateAddress(address: unknown, network: NetworkParams): AddressCheck {
  if (typeof address !== 'string') {
    return fail('empty', `expected an address string, got ${describeType(address)}`);
  }
  if (address === '') return fail('empty', 'address is empty');
  // Checked before any scanning so that huge inputs cost nothing.
  if (address.length > MAX_ADDRESS_LENGTH) {
    return fail('too_long', `${address.length} characters; no address is longer than ${MAX_ADDRESS_LENGTH}`);
  }
  if (address.trim() === '') return fail('empty', 'address is only whitespace');
  const unprintable = findUnprintable(address);
  if (unprintable !== undefined) return unprintable;
  const base58 = decodeBase58Address(address);
  if ('payload' in base58) return classifyBase58(address, base58.payload, network);
  // Tried second so a base58 address that happens to start like `LTc1…` is never taken for segwit.
  return looksLikeSegwit(address, network) ? validateSegwit(address, network) : base58;
}

/**
 * Like `validateAddress`, for callers that want an exception.
 *
 * @returns the canonical form of the address (store and compare this one).
 * @throws InvalidAddress carrying the reason of `validateAddress`.
 */
export function assertValidAddress(address: unknown, network: NetworkParams): string {
  const check = validateAddress(address, network);
  if (check.ok) return check.address;
  const shown = typeof address === 'string' ? address : `<${describeType(address)}>`;
  throw new InvalidAddress(shown, check.reason, check.detail);
}

/**
 * Make the address of `kind` for a hash (P2PKH/P2SH/P2WPKH: 20 bytes; P2WSH: 32-byte script hash;
 * P2TR: 32-byte output key) on `network`. Used by the in-memory backend and by tests.
 *
 * @throws Error when the hash has the wrong length for the kind, or a segwit kind is asked of a
 *   network without segwit. These are programming mistakes, hence not `InvalidAddress`.
 */
export function encodeAddress(kind: EncodableAddressKind, hash: Uint8Array, network: NetworkParams): string {
  if (!(hash instanceof Uint8Array)) throw new Error('encodeAddress: hash must be a Uint8Array');
  switch (kind) {
    case 'p2pkh':
      return encodeBase58Address(network.p2pkh, hash);
    case 'p2sh': {
      const version = network.p2sh[0];
      if (version === undefined) throw new Error(`encodeAddress: ${network.name} has no P2SH version byte`);
      return encodeBase58Address(version, hash);
    }
    case 'p2wpkh':
      return encodeSegwitAddress(segwitHrp(network, kind), 0, requireLength(hash, 20, kind));
    case 'p2wsh':
      return encodeSegwitAddress(segwitHrp(network, kind), 0, requireLength(hash, 32, kind));
    case 'p2tr':
      return encodeSegwitAddress(segwitHrp(network, kind), 1, requireLength(hash, 32, kind));
    default:
      throw new Error(`encodeAddress: unknown address kind ${JSON.stringify(String(kind))}`);
  }
}

function segwitHrp(network: NetworkParams, kind: EncodableAddressKind): string {
  if (network.bech32 === undefined) {
    throw new Error(`encodeAddress: ${network.name} has no segwit, cannot make a ${kind} address`);
  }
  return network.bech32;
}

/** Version 0 programs of either size are valid, so the kind asked for must pin the size. */
function requireLength(hash: Uint8Array, length: number, kind: EncodableAddressKind): Uint8Array {
  if (hash.length !== length) {
    throw new Error(`encodeAddress: ${kind} needs a ${length}-byte hash, got ${hash.length} bytes`);
  }
  return hash;
}

/** Only printable ASCII occurs in either encoding; anything else is reported with its code point. */
function findUnprintable(address: string): AddressFailure | undefined {
  for (let index = 0; index < address.length; index++) {
    const code = address.charCodeAt(index);
    if (code < 0x21 || code > 0x7e) {
      const codePoint = address.codePointAt(index) ?? code;
      const name = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
      return fail('bad_character', `character ${name} at position ${index} cannot occur in an address`);
    }
  }
  return undefined;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
