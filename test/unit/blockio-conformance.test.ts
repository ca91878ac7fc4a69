import { defineBackendConformanceSuite } from '../../src/testing/backend-conformance.js';
import { startBlockioPair } from '../fakes/blockio/harness.js';
import type { FakeBlockioOptions } from '../fakes/blockio/server.js';

/** The suite on a fresh fake; block.io cannot say which transactions a reorganisation disconnected. */
function blockioSuite(name: string, pageSize: number, fakeOptions: Partial<FakeBlockioOptions> = {}): void {
  defineBackendConformanceSuite(
    name,
    async () => {
      const pair = await startBlockioPair({}, { pageSize, ...fakeOptions });
      const { fake } = pair;
      // The tip is derived from the account's newest confirmed transaction: give it one.
      fake.fund(1_000_000n);
      return {
        backend: pair.backend,
        network: pair.network,
        pay: async (address, amount) => fake.pay(address, amount),
        payMany: async (outputs) => fake.payMany(outputs),
        mine: async (blocks) => fake.mine(blocks),
        externalAddress: async () => fake.externalAddress(),
        fund: async (amount) => fake.fund(amount),
        reorg: async (depth) => fake.chain.reorg(depth),
        teardown: () => pair.close(),
      };
    },
    { reportsRemovals: false },
  );
}

blockioSuite('blockio (fake block.io, ltc testnet)', 25);
// Pages of two transactions: every reading pages through get_transactions with before_tx.
blockioSuite('blockio (fake block.io, get_transactions pages of 2)', 2);
// block.io's Bitcoin accounts: wrapped-segwit addresses, change back to the address spent from.
blockioSuite('blockio (fake block.io, P2WSH-over-P2SH, change to the spending address)', 25, {
  addressType: 'P2WSH-over-P2SH',
  changeTo: 'spending_address',
});
