import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { bech32, bech32m, createBase58check } from '@scure/base';
import { describe, expect, it } from 'vitest';
import {
  assertValidAddress,
  encodeAddress,
  validateAddress,
  type AddressKind,
  type EncodableAddressKind,
} from '../../src/domain/address.js';
import { BUILTIN_COINS, type NetworkParams } from '../../src/domain/coins.js';
import { CryptoAssetsError, InvalidAddress, type AddressErrorReason } from '../../src/domain/errors.js';

interface ValidVector {
  coin: string;
  network: string;
  address: string;
  kind: AddressKind;
  /** Present when the canonical form differs from `address` (upper-case bech32). */
  canonical?: string;
  note?: string;
}

interface InvalidVector {
  coin: string;
  network: string;
  address: string;
  reason: AddressErrorReason;
  note?: string;
}

const vectors = JSON.parse(readFileSync(new URL('../fixtures/address-vectors.json', import.meta.url), 'utf8')) as {
  valid: ValidVector[];
  invalid: InvalidVector[];
};

// Records force these lists to stay complete when the union types change.
const ALL_REASONS = Object.keys({
  empty: true,
  too_long: true,
  bad_character: true,
  mixed_case: true,
  bad_checksum: true,
  bad_length: true,
  unknown_version: true,
  wrong_network: true,
  bad_witness_version: true,
  bad_witness_program: true,
  wrong_encoding: true,
  segwit_unsupported: true,
} satisfies Record<AddressErrorReason, true>) as AddressErrorReason[];

const ALL_KINDS = Object.keys({
  p2pkh: true,
  p2sh: true,
  p2wpkh: true,
  p2wsh: true,
  p2tr: true,
  witness_unknown: true,
} satisfies Record<AddressKind, true>) as AddressKind[];

const ENCODABLE: { kind: EncodableAddressKind; length: number; segwit: boolean }[] = [
  { kind: 'p2pkh', length: 20, segwit: false },
  { kind: 'p2sh', length: 20, segwit: false },
  { kind: 'p2wpkh', length: 20, segwit: true },
  { kind: 'p2wsh', length: 32, segwit: true },
  { kind: 'p2tr', length: 32, segwit: true },
];

const ALL_NETWORKS = Object.values(BUILTIN_COINS).flatMap((coin) =>
  Object.values(coin.networks).map((network) => ({ label: `${coin.code} ${network.name}`, network })),
);

function networkOf(vector: { coin: string; network: string }): NetworkParams {
  const network = BUILTIN_COINS[vector.coin]?.networks[vector.network];
  if (!network) throw new Error(`fixture names unknown network ${vector.coin} ${vector.network}`);
  return network;
}

const label = (vector: { coin: string; network: string; address: string; note?: string }) =>
  `${vector.coin} ${vector.network} ${JSON.stringify(vector.address)} (${vector.note ?? ''})`;

/** Deterministic so that a failure can be reproduced. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(next: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(next() * 256));
}

function expectRefused(value: unknown, network: NetworkParams): void {
  const check = validateAddress(value, network);
  expect(check.ok).toBe(false);
  if (!check.ok) {
    expect(ALL_REASONS).toContain(check.reason);
    expect(typeof check.detail).toBe('string');
  }
}

describe('address vectors', () => {
  it.each(vectors.valid.map((vector) => [label(vector), vector] as const))('accepts %s', (_name, vector) => {
    const network = networkOf(vector);
    const canonical = vector.canonical ?? vector.address;
    expect(validateAddress(vector.address, network)).toEqual({ ok: true, kind: vector.kind, address: canonical });
    expect(assertValidAddress(vector.address, network)).toBe(canonical);
  });

  it.each(vectors.invalid.map((vector) => [label(vector), vector] as const))('refuses %s', (_name, vector) => {
    const network = networkOf(vector);
    const check = validateAddress(vector.address, network);
    expect(check).toMatchObject({ ok: false, reason: vector.reason });
    expect(() => assertValidAddress(vector.address, network)).toThrow(InvalidAddress);
  });

  it('covers every reason, every kind and every built-in network', () => {
    expect(new Set(vectors.invalid.map((vector) => vector.reason))).toEqual(new Set(ALL_REASONS));
    expect(new Set(vectors.valid.map((vector) => vector.kind))).toEqual(new Set(ALL_KINDS));
    const networksWithValid = new Set(vectors.valid.map((vector) => `${vector.coin} ${vector.network}`));
    expect(networksWithValid).toEqual(new Set(ALL_NETWORKS.map(({ label: name }) => name)));
  });

  it('has no vector that is both valid and invalid on the same network', () => {
    const valid = new Set(vectors.valid.map((vector) => `${vector.coin} ${vector.network} ${vector.address}`));
    for (const vector of vectors.invalid) {
      expect(valid.has(`${vector.coin} ${vector.network} ${vector.address}`)).toBe(false);
    }
  });
});

describe('validateAddress', () => {
  const mainnet = BUILTIN_COINS.btc!.networks.mainnet!;

  it('accepts upper-case bech32 and returns it in lowercase', () => {
    const segwit = vectors.valid.filter((vector) => !['p2pkh', 'p2sh'].includes(vector.kind));
    expect(segwit.length).toBeGreaterThan(10);
    for (const vector of segwit) {
      const canonical = (vector.canonical ?? vector.address).toLowerCase();
      expect(validateAddress(vector.address.toUpperCase(), networkOf(vector))).toEqual({
        ok: true,
        kind: vector.kind,
        address: canonical,
      });
    }
  });

  it('treats base58 as case-sensitive', () => {
    expect(validateAddress('1a1zp1ep5qgefi2dmptftl5slmv7divfna', mainnet).ok).toBe(false);
    expect(validateAddress('1A1ZP1EP5QGEFI2DMPTFTL5SLMV7DIVFNA', mainnet).ok).toBe(false);
  });

  it('names the network an address belongs to', () => {
    const check = validateAddress('LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9', mainnet);
    expect(check).toMatchObject({ ok: false, reason: 'wrong_network' });
    expect(!check.ok && check.detail).toContain('ltc mainnet');
    const segwit = validateAddress('tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx', mainnet);
    expect(!segwit.ok && segwit.detail).toContain('btc testnet');
  });

  it('never throws on non-strings', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const values: unknown[] = [
      null,
      undefined,
      123,
      0,
      Number.NaN,
      10n,
      true,
      {},
      [],
      ['1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'],
      Symbol('address'),
      () => 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
      Object.create(null),
      new String('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'),
      {
        toString: () => {
          throw new Error('toString');
        },
      },
      new Uint8Array(25),
      hostile,
    ];
    for (const value of values) {
      expect(validateAddress(value, mainnet)).toMatchObject({ ok: false, reason: 'empty' });
      expect(() => assertValidAddress(value, mainnet)).toThrow(InvalidAddress);
    }
  });

  it('refuses a 10 kB string as too long', () => {
    for (const huge of ['1'.repeat(10_000), 'bc1' + 'q'.repeat(10_000), '\u0000'.repeat(10_000), '€'.repeat(10_000)]) {
      expect(validateAddress(huge, mainnet)).toMatchObject({ ok: false, reason: 'too_long' });
    }
  });

  it('never throws on random strings', () => {
    const next = prng(1);
    const alphabets = [
      '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz',
      'qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L1',
      'bc1qtbltcrBCLT0OIl ',
      '\u0000\u0001\t\n\r \u007f\u0080\u00ff\u200b\ufeff\ud800\udc00€漢😀',
    ];
    for (let round = 0; round < 4000; round++) {
      const chars = alphabets[round % alphabets.length]!;
      const length = Math.floor(next() * 100);
      let text = round % 3 === 0 ? ['bc1', 'tb1', 'bcrt1', 'ltc1', 'L', 'D', '1', '3'][round % 8]! : '';
      while (text.length < length) text += chars[Math.floor(next() * chars.length)];
      const network = ALL_NETWORKS[round % ALL_NETWORKS.length]!.network;
      const check = validateAddress(text, network);
      if (!check.ok) expect(ALL_REASONS).toContain(check.reason);
    }
  });

  it('refuses every single-character corruption of the valid vectors', () => {
    const next = prng(2);
    const replacements = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl';
    for (const vector of vectors.valid) {
      const network = networkOf(vector);
      const original = vector.canonical ?? vector.address;
      for (let attempt = 0; attempt < 20; attempt++) {
        const at = Math.floor(next() * original.length);
        const replacement = replacements[Math.floor(next() * replacements.length)]!;
        if (replacement === original[at]) continue;
        const corrupted = original.slice(0, at) + replacement + original.slice(at + 1);
        expectRefused(corrupted, network);
      }
      expectRefused(original.slice(0, -1), network);
      expectRefused(original + original.at(-1), network);
    }
  });

  it('works for a network that is not built in', () => {
    const custom: NetworkParams = { name: 'custom', p2pkh: 0x3c, p2sh: [0x7a], bech32: 'xyz' };
    const hash = new Uint8Array(20).fill(7);
    const legacy = encodeAddress('p2pkh', hash, custom);
    const segwit = encodeAddress('p2wpkh', hash, custom);
    expect(segwit.startsWith('xyz1q')).toBe(true);
    expect(validateAddress(legacy, custom)).toEqual({ ok: true, kind: 'p2pkh', address: legacy });
    expect(validateAddress(segwit, custom)).toEqual({ ok: true, kind: 'p2wpkh', address: segwit });
    expect(validateAddress(legacy, mainnet)).toMatchObject({ ok: false, reason: 'unknown_version' });
    expect(validateAddress(segwit, mainnet)).toMatchObject({ ok: false, reason: 'wrong_network' });
    expect(validateAddress('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', custom)).toMatchObject({
      ok: false,
      reason: 'wrong_network',
    });
  });
});

describe('assertValidAddress', () => {
  const testnet = BUILTIN_COINS.btc!.networks.testnet!;

  it('returns the canonical form', () => {
    expect(assertValidAddress('TB1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KXPJZSX', testnet)).toBe('tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx');
  });

  it('throws InvalidAddress carrying the reason', () => {
    const attempt = () => assertValidAddress('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', testnet);
    expect(attempt).toThrow(InvalidAddress);
    try {
      attempt();
    } catch (error) {
      expect(error).toBeInstanceOf(CryptoAssetsError);
      const invalid = error as InvalidAddress;
      expect(invalid.code).toBe('invalid_address');
      expect(invalid.reason).toBe('wrong_network');
      expect(invalid.address).toBe('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa');
      expect(invalid.message).toContain('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa');
    }
  });

  it('throws InvalidAddress for non-strings too', () => {
    try {
      assertValidAddress(null, testnet);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidAddress);
      expect((error as InvalidAddress).reason).toBe('empty');
    }
  });
});

describe('encodeAddress', () => {
  const base58check = createBase58check(sha256);

  /** Decode independently of the code under test, to prove the hash is really in the address. */
  function decodedHash(address: string, segwit: boolean): Uint8Array {
    if (!segwit) return base58check.decode(address).subarray(1);
    const { words } = address[address.lastIndexOf('1') + 1] === 'q' ? bech32.decode(address) : bech32m.decode(address);
    return bech32.fromWords(words.slice(1));
  }

  for (const { label: networkLabel, network } of ALL_NETWORKS) {
    for (const { kind, length, segwit } of ENCODABLE) {
      it(`round-trips ${kind} on ${networkLabel}`, () => {
        const next = prng(length * 1000 + network.p2pkh);
        if (segwit && network.bech32 === undefined) {
          expect(() => encodeAddress(kind, new Uint8Array(length), network)).toThrow(/no segwit/);
          return;
        }
        for (let round = 0; round < 25; round++) {
          const hash = round === 0 ? new Uint8Array(length) : round === 1 ? new Uint8Array(length).fill(0xff) : randomBytes(next, length);
          const address = encodeAddress(kind, hash, network);
          expect(validateAddress(address, network)).toEqual({ ok: true, kind, address });
          expect(decodedHash(address, segwit)).toEqual(hash);
        }
      });
    }
  }

  it('uses the current P2SH version byte', () => {
    const ltc = BUILTIN_COINS.ltc!.networks;
    expect(encodeAddress('p2sh', new Uint8Array(20).fill(1), ltc.mainnet!)).toMatch(/^M/);
    expect(encodeAddress('p2sh', new Uint8Array(20).fill(1), ltc.testnet!)).toMatch(/^Q/);
  });

  it('throws a plain Error on bad input', () => {
    const mainnet = BUILTIN_COINS.btc!.networks.mainnet!;
    const cases: [EncodableAddressKind, Uint8Array][] = [
      ['p2pkh', new Uint8Array(19)],
      ['p2pkh', new Uint8Array(21)],
      ['p2sh', new Uint8Array(32)],
      ['p2wpkh', new Uint8Array(32)],
      ['p2wsh', new Uint8Array(20)],
      ['p2tr', new Uint8Array(33)],
      ['p2tr', new Uint8Array(0)],
    ];
    for (const [kind, hash] of cases) {
      expect(() => encodeAddress(kind, hash, mainnet)).toThrow(Error);
      expect(() => encodeAddress(kind, hash, mainnet)).not.toThrow(CryptoAssetsError);
    }
    expect(() => encodeAddress('witness_unknown' as EncodableAddressKind, new Uint8Array(20), mainnet)).toThrow(/unknown address kind/);
    expect(() => encodeAddress('p2pkh', [1, 2, 3] as unknown as Uint8Array, mainnet)).toThrow(/Uint8Array/);
  });
});
