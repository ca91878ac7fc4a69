import { BTC, DOGE, LTC, type NetworkParams } from '../../src/domain/coins.js';
import { MemoryChain } from '../../src/backends/memory/index.js';
import { defineBackendConformanceSuite, type ConformanceHarness } from '../../src/testing/backend-conformance.js';

/** A fresh chain with one wallet under test per conformance test. */
function memoryHarness(network: NetworkParams, optional: { payMany: boolean; reorg: boolean }): () => Promise<ConformanceHarness> {
  return async () => {
    const chain = new MemoryChain({ network });
    const backend = chain.createWallet('under-test');
    const harness: ConformanceHarness = {
      backend,
      network,
      pay: async (address, amount) => chain.pay(address, amount),
      mine: async (blocks) => {
        chain.mine(blocks);
      },
      externalAddress: async () => chain.externalAddress(),
      fund: async (amount) => {
        chain.fund(backend, amount);
      },
      teardown: () => backend.close(),
    };
    return {
      ...harness,
      ...(optional.payMany ? { payMany: async (outputs) => chain.payMany(outputs) } : {}),
      ...(optional.reorg
        ? {
            reorg: async (depth) => {
              chain.reorg(depth);
              chain.mineEmpty(depth + 1);
            },
          }
        : {}),
    };
  };
}

// Segwit and base58-only networks, with and without the optional payMany and reorg of the harness.
defineBackendConformanceSuite('memory (btc regtest)', memoryHarness(BTC.networks.regtest!, { payMany: true, reorg: true }));
defineBackendConformanceSuite(
  'memory (ltc mainnet, no payMany, no reorg)',
  memoryHarness(LTC.networks.mainnet!, { payMany: false, reorg: false }),
);
defineBackendConformanceSuite('memory (doge mainnet)', memoryHarness(DOGE.networks.mainnet!, { payMany: true, reorg: true }));
