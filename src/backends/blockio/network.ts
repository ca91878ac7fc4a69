/**
 * What block.io calls a coin's network (`BTC`, `LTCTEST`, …) and the address parameters
 * @scure/btc-signer needs to build and read its transactions.
 */
import type { CoinDefinition, NetworkParams } from '../../domain/coins.js';

/** @scure/btc-signer's description of a network's address encodings. */
export interface SignerNetwork {
  readonly bech32: string;
  readonly pubKeyHash: number;
  readonly scriptHash: number;
  readonly wif: number;
}

/** The network name block.io answers with for a coin's network (`get_balance`'s `network`). */
export function blockioNetworkName(coin: Pick<CoinDefinition, 'code'>, network: Pick<NetworkParams, 'name'>): string {
  const code = coin.code.toUpperCase();
  return network.name === 'mainnet' ? code : `${code}TEST`;
}

/** The btc-signer network of our network parameters. */
export function signerNetwork(network: NetworkParams): SignerNetwork {
  return {
    // Dogecoin has no segwit: a prefix nothing matches keeps bech32 addresses unreadable there.
    bech32: network.bech32 ?? 'nosegwit',
    pubKeyHash: network.p2pkh,
    scriptHash: network.p2sh[0] ?? 0x05,
    wif: 0x80,
  };
}
