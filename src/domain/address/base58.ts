/**
 * Base58Check addresses (P2PKH, P2SH): one version byte, a 20-byte hash, a 4-byte checksum that is
 * the start of the double SHA-256 of the first 21 bytes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { base58, createBase58check } from '@scure/base';
import type { NetworkParams } from '../coins.js';
import { networksUsingVersion } from './known-networks.js';
import { fail, hexByte, pass, type AddressCheck, type AddressFailure } from './types.js';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const HASH_LENGTH = 20;
const PAYLOAD_LENGTH = 1 + HASH_LENGTH;
const CHECKSUM_LENGTH = 4;

const base58check = createBase58check(sha256);

/** A string that is well-formed Base58Check of the address size, before its version is judged. */
export interface Base58Payload {
  readonly payload: Uint8Array;
}

/**
 * Decode `address` as Base58Check of a 21-byte payload. Failures carry the reason, so a string that
 * is not base58 at all can still be tried as segwit by the caller.
 */
export function decodeBase58Address(address: string): Base58Payload | AddressFailure {
  const bad = findNonBase58(address);
  if (bad !== undefined) return bad;
  // Every character was checked above, so the library's decoder has nothing left to throw about.
  const bytes = base58.decode(address);
  if (bytes.length !== PAYLOAD_LENGTH + CHECKSUM_LENGTH) {
    return fail('bad_length', `decodes to ${bytes.length} bytes; a base58 address has ${PAYLOAD_LENGTH + CHECKSUM_LENGTH}`);
  }
  const payload = bytes.subarray(0, PAYLOAD_LENGTH);
  if (!checksumMatches(payload, bytes.subarray(PAYLOAD_LENGTH))) {
    return fail('bad_checksum', 'base58 checksum does not match: a character is wrong or missing');
  }
  return { payload };
}

/** Judge the version byte of a decoded payload against the network. */
export function classifyBase58(address: string, payload: Uint8Array, network: NetworkParams): AddressCheck {
  const version = payload[0] ?? -1;
  if (version === network.p2pkh) return pass('p2pkh', address);
  if (network.p2sh.includes(version)) return pass('p2sh', address);
  const expected = [network.p2pkh, ...network.p2sh].map(hexByte).join(', ');
  const uses = networksUsingVersion(version);
  if (uses.length > 0) {
    return fail('wrong_network', `version byte ${hexByte(version)} is ${uses.join(', ')}; ${network.name} expects ${expected}`);
  }
  return fail('unknown_version', `version byte ${hexByte(version)} is not one of ${expected}`);
}

/** Base58Check-encode `version` followed by a 20-byte hash. */
export function encodeBase58Address(version: number, hash: Uint8Array): string {
  if (!Number.isInteger(version) || version < 0 || version > 0xff) {
    throw new Error(`base58 version must be a byte, got ${version}`);
  }
  if (hash.length !== HASH_LENGTH) {
    throw new Error(`base58 addresses carry a ${HASH_LENGTH}-byte hash, got ${hash.length} bytes`);
  }
  const payload = new Uint8Array(PAYLOAD_LENGTH);
  payload[0] = version;
  payload.set(hash, 1);
  return base58check.encode(payload);
}

function findNonBase58(address: string): AddressFailure | undefined {
  for (let index = 0; index < address.length; index++) {
    const char = address.charAt(index);
    if (!ALPHABET.includes(char)) {
      // 0, O, I and l are the usual culprits: base58 leaves them out because they look alike.
      return fail('bad_character', `character ${JSON.stringify(char)} at position ${index} is not base58`);
    }
  }
  return undefined;
}

function checksumMatches(payload: Uint8Array, checksum: Uint8Array): boolean {
  const expected = sha256(sha256(payload));
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    if (expected[index] !== checksum[index]) return false;
  }
  return true;
}
