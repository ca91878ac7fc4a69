/** A ledger on the bitcoind backend of one node wallet, with calls to the node counted. */
import { join } from 'node:path';
import { CryptoAssets } from '../../src/app.js';
import { BitcoindBackend } from '../../src/backends/bitcoind/bitcoind-backend.js';
import { LTC } from '../../src/domain/coins.js';
import { CountingRpc } from './counting-rpc.js';
import { addReceivingAddresses } from './ledger-setup.js';
import type { NodeFixture, PaidWallet } from './node-fixture.js';

export interface NodeLedger {
  readonly app: CryptoAssets;
  readonly rpc: CountingRpc;
}

/** A fresh SQLite ledger whose wallet `main` holds every address of `wallet` (no deposits yet). */
export async function nodeLedger(fixture: NodeFixture, wallet: PaidWallet, path: string): Promise<NodeLedger> {
  const network = LTC.networks.regtest!;
  const rpc = new CountingRpc(fixture.client(wallet.name));
  const backend = new BitcoindBackend({ config: fixture.node.backendConfig(wallet.name), coin: LTC, network, rpc });
  const app = await CryptoAssets.open({ database: { kind: 'sqlite', path }, coins: [{ coin: LTC, network, backend }], migrate: true });
  try {
    await addReceivingAddresses(app, 'ltc', 'main', wallet.addresses);
  } catch (error) {
    await app.close();
    throw error;
  }
  return { app, rpc };
}

export function ledgerPath(dir: string, name: string): string {
  return join(dir, `${name}.sqlite`);
}
