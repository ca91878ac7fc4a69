/**
 * Backends from configuration. Each configured coin gets its own backend instance; the in-memory
 * backend gets its own simulated chain, reachable for demos and tests through `memoryChainOf`.
 */
import type { BackendConfig, CoinConfig } from '../config/types.js';
import type { CoinBackend } from './backend.js';
import { BitcoindBackend } from './bitcoind/index.js';
import { MemoryBackend, MemoryChain } from './memory/index.js';

const chains = new WeakMap<MemoryBackend, MemoryChain>();

/** Create the backend a coin is configured with. */
export async function createBackend(code: string, coin: CoinConfig): Promise<CoinBackend> {
  const config: BackendConfig = coin.backend;
  switch (config.type) {
    case 'memory': {
      const chain = new MemoryChain({
        network: coin.network,
        feePerOutput: config.feePerOutput,
        seed: `cryptoassets-${code}-${Date.now()}`,
      });
      if (config.initialBlocks > 0) chain.mine(config.initialBlocks);
      const backend = chain.createWallet(code);
      chains.set(backend, chain);
      return backend;
    }
    case 'bitcoind':
      return new BitcoindBackend({ config, coin: coin.coin, network: coin.network });
    case 'blockio': {
      // Loaded on first use: its signing libraries cost every other service ~10 MiB of memory.
      const { BlockioBackend } = await import('./blockio/index.js');
      return new BlockioBackend({ config, coin: coin.coin, network: coin.network });
    }
  }
}

/** The simulated chain behind an in-memory backend (to pay, mine and reorganise in demos and tests). */
export function memoryChainOf(backend: CoinBackend): MemoryChain | undefined {
  return backend instanceof MemoryBackend ? chains.get(backend) : undefined;
}
