/**
 * The built-in networks, consulted only to explain a refusal: an address whose version byte or
 * human-readable part belongs to one of them is reported as `wrong_network` (naming it) instead
 * of a bare `unknown_version`, and a garbled string starting with a known prefix such as `bc1` is
 * diagnosed as segwit. Acceptance never depends on this table, only on the network given.
 */
import { BUILTIN_COINS, type NetworkParams } from '../coins.js';

interface KnownNetwork {
  /** `btc mainnet`, `ltc testnet`, … */
  readonly label: string;
  readonly params: NetworkParams;
}

const KNOWN: readonly KnownNetwork[] = Object.values(BUILTIN_COINS).flatMap((coin) =>
  Object.values(coin.networks).map((params) => ({ label: `${coin.code} ${params.name}`, params })),
);

/** Human-readable parts of the built-in segwit networks (`bc`, `tb`, `bcrt`, `ltc`, …). */
export const KNOWN_HRPS: ReadonlySet<string> = new Set(KNOWN.flatMap(({ params }) => (params.bech32 === undefined ? [] : [params.bech32])));

/** Names the built-in networks whose base58 addresses start with `version`, e.g. `ltc mainnet P2PKH`. */
export function networksUsingVersion(version: number): string[] {
  const uses: string[] = [];
  for (const { label, params } of KNOWN) {
    if (params.p2pkh === version) uses.push(`${label} P2PKH`);
    if (params.p2sh.includes(version)) uses.push(`${label} P2SH`);
  }
  return uses;
}

/** Names the built-in networks whose segwit addresses use the human-readable part `hrp`. */
export function networksUsingHrp(hrp: string): string[] {
  return KNOWN.filter(({ params }) => params.bech32 === hrp).map(({ label }) => label);
}
