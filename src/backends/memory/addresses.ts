/**
 * Addresses of the simulated chain. They are real, checksummed addresses of the chain's network
 * (so code under test that validates addresses accepts them) built from hashes that no key ever
 * produced: nobody can spend from them, which is fine because the chain never checks signatures.
 * Encoding and validation are the library's own (`domain/address`), so the memory chain accepts
 * exactly the addresses the ledger accepts.
 */
import { encodeAddress, validateAddress } from '../../domain/address.js';
import type { NetworkParams } from '../../domain/coins.js';

/**
 * Encode a 20-byte hash as the network's usual receiving address: native segwit v0 (P2WPKH) where
 * the network has segwit, as bitcoind's default address type, else Base58Check P2PKH.
 */
export function encodeKeyHashAddress(hash: Uint8Array, network: NetworkParams): string {
  return encodeAddress(network.bech32 !== undefined ? 'p2wpkh' : 'p2pkh', hash, network);
}

/**
 * The canonical form of `address` (bech32 lowercased, base58 unchanged) when it is valid on
 * `network`, else a one-line reason.
 */
export function checkAddress(address: unknown, network: NetworkParams): { ok: true; address: string } | { ok: false; detail: string } {
  const check = validateAddress(address, network);
  return check.ok ? { ok: true, address: check.address } : { ok: false, detail: `${check.reason}: ${check.detail}` };
}

/** The canonical form of `address` when it is valid on `network`, else null. */
export function normalizeAddress(address: unknown, network: NetworkParams): string | null {
  const check = validateAddress(address, network);
  return check.ok ? check.address : null;
}
