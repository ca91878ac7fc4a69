/**
 * A `BlockioBackend` against a fresh fake block.io, for tests: LTC testnet, a known API key and
 * PIN, quick throttling back-off.
 */
import { BlockioBackend } from '../../../src/backends/blockio/index.js';
import type { BlockioBackendConfig } from '../../../src/config/types.js';
import { LTC, type CoinDefinition, type NetworkParams } from '../../../src/domain/coins.js';
import { startFakeBlockio, type FakeBlockio, type FakeBlockioOptions } from './server.js';

export const FAKE_API_KEY = 'fake-api-key-5b1c';
export const FAKE_PIN = 'fake-pin-93d2';

/** A fake and a backend speaking to it. */
export interface BlockioPair {
  readonly fake: FakeBlockio;
  readonly backend: BlockioBackend;
  readonly config: BlockioBackendConfig;
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  close(): Promise<void>;
}

/** Start a fake and a backend; `config` overrides the backend's configuration. */
export async function startBlockioPair(
  config: Partial<BlockioBackendConfig> = {},
  fakeOptions: Partial<FakeBlockioOptions> = {},
): Promise<BlockioPair> {
  const coin = LTC;
  const network = LTC.networks.testnet!;
  const fake = await startFakeBlockio({ coin, network, apiKey: FAKE_API_KEY, pin: FAKE_PIN, ...fakeOptions });
  const full: BlockioBackendConfig = {
    type: 'blockio',
    apiKey: FAKE_API_KEY,
    pin: FAKE_PIN,
    apiUrl: fake.apiUrl,
    timeoutMs: 5_000,
    maxFee: 1_000_000n,
    ...config,
  };
  const backend = new BlockioBackend({ config: full, coin, network, retry: { attempts: 3, baseDelayMs: 5 } });
  return {
    fake,
    backend,
    config: full,
    coin,
    network,
    close: async () => {
      await backend.close();
      await fake.close();
    },
  };
}
