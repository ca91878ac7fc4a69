/**
 * Segwit addresses (BIP173 bech32 for witness version 0, BIP350 bech32m for versions 1–16).
 * Checks run in the order of the BIP350 reference decoder, so each test vector of the BIPs fails
 * for the reason the BIP gives: string syntax, checksum, human-readable part, witness version,
 * program, and last which of the two checksum variants was used.
 */
import { bech32, bech32m } from '@scure/base';
import type { NetworkParams } from '../coins.js';
import { KNOWN_HRPS, networksUsingHrp } from './known-networks.js';
import { fail, pass, type AddressCheck, type AddressFailure, type AddressKind } from './types.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const CHECKSUM_CHARS = 6;
const MAX_WITNESS_VERSION = 16;
const MIN_PROGRAM = 2;
const MAX_PROGRAM = 40;

type Variant = 'bech32' | 'bech32m';

interface Bech32String {
  readonly hrp: string;
  readonly words: number[];
  readonly variant: Variant;
}

/**
 * Whether a string that is not valid base58 should be diagnosed as segwit. A prefix this network or
 * a built-in one uses settles it; otherwise only a single-case string whose data part is entirely
 * bech32 characters qualifies, because a mistyped base58 address is almost never single-case and
 * deserves base58 reasons rather than `mixed_case`.
 */
export function looksLikeSegwit(address: string, network: NetworkParams): boolean {
  const lower = address.toLowerCase();
  const separator = lower.lastIndexOf('1');
  if (separator < 1) return false;
  const hrp = lower.slice(0, separator);
  if (hrp === network.bech32 || KNOWN_HRPS.has(hrp)) return true;
  const data = lower.slice(separator + 1);
  const singleCase = address === lower || address === address.toUpperCase();
  return singleCase && data.length >= CHECKSUM_CHARS && [...data].every((char) => CHARSET.includes(char));
}

/** Validate a string already routed here by `looksLikeSegwit` (printable ASCII, at most 90 characters). */
export function validateSegwit(address: string, network: NetworkParams): AddressCheck {
  const decoded = decodeBech32String(address);
  if ('reason' in decoded) return decoded;
  const { hrp, words, variant } = decoded;
  if (hrp !== network.bech32) return refuseHrp(hrp, network);
  if (words.length === 0) return fail('bad_length', 'empty data part: no witness version');
  const version = words[0] ?? 0;
  if (version > MAX_WITNESS_VERSION) {
    return fail('bad_witness_version', `witness version ${version} is above ${MAX_WITNESS_VERSION}`);
  }
  const program = bech32.fromWordsUnsafe(words.slice(1));
  if (program === undefined) {
    return fail('bad_witness_program', 'witness program has invalid padding in its 5-to-8-bit conversion');
  }
  const programProblem = checkProgramLength(version, program.length);
  if (programProblem !== undefined) return fail('bad_witness_program', programProblem);
  const expected: Variant = version === 0 ? 'bech32' : 'bech32m';
  if (variant !== expected) {
    return fail('wrong_encoding', `witness version ${version} must use ${expected}, this address uses ${variant}`);
  }
  return pass(segwitKind(version, program.length), address.toLowerCase());
}

/** Encode a witness program as a segwit address, choosing bech32 or bech32m by witness version. */
export function encodeSegwitAddress(hrp: string, version: number, program: Uint8Array): string {
  const problem = checkProgramLength(version, program.length);
  if (problem !== undefined) throw new Error(problem);
  const words = [version, ...bech32.toWords(program)];
  return version === 0 ? bech32.encode(hrp, words) : bech32m.encode(hrp, words);
}

function decodeBech32String(address: string): Bech32String | AddressFailure {
  const lower = address.toLowerCase();
  if (address !== lower && address !== address.toUpperCase()) {
    return fail('mixed_case', 'bech32 addresses must be all lowercase or all uppercase');
  }
  const separator = lower.lastIndexOf('1');
  const data = lower.slice(separator + 1);
  for (let index = 0; index < data.length; index++) {
    const char = data.charAt(index);
    if (!CHARSET.includes(char)) {
      const position = separator + 1 + index;
      return fail('bad_character', `character ${JSON.stringify(char)} at position ${position} is not bech32`);
    }
  }
  if (data.length < CHECKSUM_CHARS) {
    return fail('bad_length', `data part has ${data.length} characters, fewer than its ${CHECKSUM_CHARS}-character checksum`);
  }
  // Syntax is settled above, so the only way left for these decoders to refuse is the checksum.
  const asBech32 = bech32.decodeUnsafe(lower);
  if (asBech32) return { hrp: asBech32.prefix, words: asBech32.words, variant: 'bech32' };
  const asBech32m = bech32m.decodeUnsafe(lower);
  if (asBech32m) return { hrp: asBech32m.prefix, words: asBech32m.words, variant: 'bech32m' };
  return fail('bad_checksum', 'neither a bech32 nor a bech32m checksum matches: a character is wrong or missing');
}

function refuseHrp(hrp: string, network: NetworkParams): AddressCheck {
  const owners = networksUsingHrp(hrp);
  const whose = owners.length > 0 ? ` (${owners.join(', ')})` : '';
  if (network.bech32 === undefined) {
    // A prefix we recognise is a mistake of network, anything else is segwit the network lacks.
    return owners.length > 0
      ? fail('wrong_network', `segwit prefix "${hrp}"${whose} is not of ${network.name}, which has no segwit`)
      : fail('segwit_unsupported', `${network.name} has no segwit addresses (prefix "${hrp}")`);
  }
  return fail('wrong_network', `segwit prefix "${hrp}"${whose} is not ${network.name}'s "${network.bech32}"`);
}

function checkProgramLength(version: number, length: number): string | undefined {
  if (!Number.isInteger(version) || version < 0 || version > MAX_WITNESS_VERSION) {
    return `witness version ${version} is not between 0 and ${MAX_WITNESS_VERSION}`;
  }
  if (length < MIN_PROGRAM || length > MAX_PROGRAM) {
    return `witness program of ${length} bytes is outside ${MIN_PROGRAM}–${MAX_PROGRAM}`;
  }
  // BIP141 gives version 0 meaning only for these two sizes: key hash and script hash.
  if (version === 0 && length !== 20 && length !== 32) {
    return `version 0 witness program must be 20 or 32 bytes, got ${length}`;
  }
  return undefined;
}

function segwitKind(version: number, programLength: number): AddressKind {
  if (version === 0) return programLength === 20 ? 'p2wpkh' : 'p2wsh';
  // BIP341 defines only the 32-byte version 1 program; every other one is reserved for the future.
  if (version === 1 && programLength === 32) return 'p2tr';
  return 'witness_unknown';
}
