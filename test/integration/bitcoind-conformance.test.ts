/**
 * The CoinBackend conformance suite against a real Litecoin Core node in regtest. One node for
 * the file; every test gets a fresh wallet, so tests stay independent at 0.1 s per wallet.
 */
import { afterAll, beforeAll } from 'vitest';
import { BitcoindBackend } from '../../src/backends/bitcoind/index.js';
import { JsonNumber } from '../../src/backends/bitcoind/lossless-json.js';
import { formatAmount } from '../../src/domain/amounts.js';
import { LTC } from '../../src/domain/coins.js';
import { defineBackendConformanceSuite, type ConformanceHarness } from '../../src/testing/backend-conformance.js';
import { describeWithNode, RegtestNode } from '../helpers/regtest.js';

const network = LTC.networks.regtest!;

describeWithNode()('bitcoind backend conformance', () => {
  let node: RegtestNode | undefined;

  beforeAll(async () => {
    node = await RegtestNode.start();
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  }, 60_000);

  defineBackendConformanceSuite('bitcoind (litecoin regtest)', async (): Promise<ConformanceHarness> => {
    if (!node) throw new Error('the regtest node did not start');
    const regtest = node;
    const wallet = await regtest.createWallet('conformance');
    const backend = new BitcoindBackend({ config: regtest.backendConfig(wallet), coin: LTC, network });
    const coins = (amount: bigint): string => formatAmount(amount, LTC);
    return {
      backend,
      network,
      pay: (address, amount) => regtest.fund(address, coins(amount)),
      payMany: async (outputs) => {
        const amounts = Object.fromEntries(outputs.map((output) => [output.address, new JsonNumber(coins(output.amount))]));
        const txid = (await regtest.walletRpc(regtest.minerWallet, 'sendmany', '', amounts)) as string;
        await regtest.settle();
        return txid;
      },
      mine: async (blocks) => {
        await regtest.mine(blocks);
      },
      reorg: async (depth) => {
        // Disconnect the last `depth` blocks, then mine `depth + 1` blocks holding nothing: the
        // disconnected transactions go back to the mempool.
        const height = await regtest.height();
        await regtest.rpc('invalidateblock', await regtest.rpc('getblockhash', height - depth + 1));
        const address = await regtest.minerNewAddress();
        for (let i = 0; i <= depth; i++) await regtest.rpc('generateblock', address, []);
        await regtest.settle();
      },
      externalAddress: () => regtest.minerNewAddress(),
      fund: async (amount) => {
        const address = (await regtest.walletRpc(wallet, 'getnewaddress', 'fund')) as string;
        await regtest.fund(address, coins(amount));
        await regtest.mine(1);
      },
      teardown: async () => {
        await backend.close();
        await regtest.unloadWallet(wallet);
      },
    };
  });
});
