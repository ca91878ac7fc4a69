/**
 * Result types shared by the base58 and segwit halves of address validation.
 */
import type { AddressErrorReason } from '../errors.js';

/** What an address pays to, as far as the address itself tells. */
export type AddressKind = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr' | 'witness_unknown';

/** Address kinds that `encodeAddress` can produce. */
export type EncodableAddressKind = Exclude<AddressKind, 'witness_unknown'>;

/**
 * Outcome of `validateAddress`. On success `address` is the canonical form: bech32/bech32m in
 * lowercase, base58 unchanged (base58 is case-sensitive, so it has only one form).
 */
export type AddressCheck = { ok: true; kind: AddressKind; address: string } | { ok: false; reason: AddressErrorReason; detail: string };

/** The failure branch of `AddressCheck`. */
export type AddressFailure = Extract<AddressCheck, { ok: false }>;

export function fail(reason: AddressErrorReason, detail: string): AddressFailure {
  return { ok: false, reason, detail };
}

export function pass(kind: AddressKind, address: string): AddressCheck {
  return { ok: true, kind, address };
}

/** Byte values as `0x1e`, the way version bytes are written in node source and documentation. */
export function hexByte(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}
