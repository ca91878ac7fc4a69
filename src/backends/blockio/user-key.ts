/**
 * block.io's "user key": the account's half of each 2-of-2 address, which block.io holds only
 * encrypted with the secret PIN and hands out with every `prepare_transaction` for the client to
 * decrypt and sign with. The decryption parameters come with it (`algorithm`): PBKDF2-SHA256 in
 * two phases (the PIN, then the hex of phase one, each with half the iterations) gives the AES
 * key; AES-256-GCM (or the legacy ECB/CBC) gives the passphrase as hex; SHA-256 of the
 * passphrase bytes, reduced modulo the curve order, is the private key.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { BackendError } from '../../domain/errors.js';

/** How `encrypted_passphrase` was encrypted, as block.io describes it. */
export interface UserKeyAlgorithm {
  readonly pbkdf2_salt: string;
  readonly pbkdf2_iterations: number;
  readonly pbkdf2_hash_function: string;
  readonly pbkdf2_phase1_key_length: number;
  readonly pbkdf2_phase2_key_length: number;
  readonly aes_iv: string | null;
  readonly aes_cipher: string;
  readonly aes_auth_tag: string | null;
  readonly aes_auth_data: string | null;
}

/** The `user_key` of a `prepare_transaction` answer. */
export interface EncryptedUserKey {
  readonly public_key: string;
  readonly encrypted_passphrase: string;
  readonly algorithm?: UserKeyAlgorithm;
}

/** The parameters block.io used before it sent `algorithm` (its clients' default). */
export const LEGACY_ALGORITHM: UserKeyAlgorithm = {
  pbkdf2_salt: '',
  pbkdf2_iterations: 2048,
  pbkdf2_hash_function: 'SHA256',
  pbkdf2_phase1_key_length: 16,
  pbkdf2_phase2_key_length: 32,
  aes_iv: null,
  aes_cipher: 'AES-256-ECB',
  aes_auth_tag: null,
  aes_auth_data: null,
};

/** More iterations than this would let a hostile answer stall the process; block.io uses 500 000. */
const MAX_ITERATIONS = 5_000_000;

/** The AES key for `pin` under `algorithm`'s PBKDF2 parameters. */
export function pinToAesKey(pin: string, algorithm: UserKeyAlgorithm): Buffer {
  const iterations = algorithm.pbkdf2_iterations;
  // Key lengths are block.io's fixed 16 and 32 bytes: any other is a hostile or unknown answer (a
  // huge one would stall the process in PBKDF2), not a wrong PIN.
  if (
    algorithm.pbkdf2_hash_function !== 'SHA256' ||
    typeof algorithm.pbkdf2_salt !== 'string' ||
    !Number.isSafeInteger(iterations) ||
    iterations < 2 ||
    iterations > MAX_ITERATIONS ||
    algorithm.pbkdf2_phase1_key_length !== 16 ||
    algorithm.pbkdf2_phase2_key_length !== 32
  ) {
    throw new BackendError('block.io sent user key parameters this version cannot use', { retryable: false, code: 'preparation_tampered' });
  }
  const half = Math.floor(iterations / 2);
  const phase1 = pbkdf2Sync(pin, algorithm.pbkdf2_salt, half, algorithm.pbkdf2_phase1_key_length, 'sha256');
  return pbkdf2Sync(phase1.toString('hex'), algorithm.pbkdf2_salt, half, algorithm.pbkdf2_phase2_key_length, 'sha256');
}

/** The private key of a passphrase (hex), block.io's way. */
export function passphraseToPrivateKey(passphraseHex: string): Uint8Array {
  const n = secp256k1.Point.CURVE().n;
  const d = BigInt(`0x${bytesToHex(sha256(hexToBytes(passphraseHex)))}`) % n;
  return hexToBytes(d.toString(16).padStart(64, '0'));
}

/** The compressed public key of a private key, as hex. */
export function publicKeyHex(privateKey: Uint8Array): string {
  return bytesToHex(secp256k1.getPublicKey(privateKey, true));
}

/**
 * Decrypt the user key with the PIN and check it against the public key block.io named.
 * @throws BackendError `wrong_pin` when the PIN does not open it (the message never holds the PIN).
 */
export function decryptUserKey(userKey: EncryptedUserKey, pin: string): Uint8Array {
  const algorithm = userKey.algorithm ?? LEGACY_ALGORITHM;
  const key = pinToAesKey(pin, algorithm);
  let passphrase: string;
  try {
    passphrase = decipher(algorithm, key, userKey.encrypted_passphrase);
  } catch {
    throw wrongPin();
  }
  if (!/^([0-9a-f]{2})+$/i.test(passphrase)) throw wrongPin();
  const privateKey = passphraseToPrivateKey(passphrase);
  if (publicKeyHex(privateKey) !== userKey.public_key) throw wrongPin();
  return privateKey;
}

/** Encrypt a passphrase with a PIN under `algorithm` (AES-256-GCM): what block.io stores. */
export function encryptPassphrase(passphraseHex: string, pin: string, algorithm: UserKeyAlgorithm): { encrypted: string; authTag: string } {
  const cipher = createCipheriv('aes-256-gcm', pinToAesKey(pin, algorithm), Buffer.from(algorithm.aes_iv ?? '', 'hex'));
  cipher.setAAD(Buffer.from(algorithm.aes_auth_data ?? '', 'hex'));
  const encrypted = Buffer.concat([cipher.update(passphraseHex, 'utf8'), cipher.final()]).toString('base64');
  return { encrypted, authTag: cipher.getAuthTag().toString('hex') };
}

function decipher(algorithm: UserKeyAlgorithm, key: Buffer, encrypted: string): string {
  const data = Buffer.from(encrypted, 'base64');
  switch (algorithm.aes_cipher) {
    case 'AES-256-GCM': {
      const tag = Buffer.from(algorithm.aes_auth_tag ?? '', 'hex');
      if (tag.length !== 16) throw new Error('auth tag must be 16 bytes');
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(algorithm.aes_iv ?? '', 'hex'));
      d.setAuthTag(tag);
      d.setAAD(Buffer.from(algorithm.aes_auth_data ?? '', 'hex'));
      return Buffer.concat([d.update(data), d.final()]).toString('utf8');
    }
    case 'AES-256-CBC': {
      const d = createDecipheriv('aes-256-cbc', key, Buffer.from(algorithm.aes_iv ?? '', 'hex'));
      return Buffer.concat([d.update(data), d.final()]).toString('utf8');
    }
    case 'AES-256-ECB': {
      const d = createDecipheriv('aes-256-ecb', key, null);
      return Buffer.concat([d.update(data), d.final()]).toString('utf8');
    }
    default:
      throw new Error('unknown cipher');
  }
}

function wrongPin(): BackendError {
  return new BackendError('the block.io PIN does not decrypt the user key (wrong PIN)', { retryable: false, code: 'wrong_pin' });
}
