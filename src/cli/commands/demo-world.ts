/**
 * The chains the offline demo runs on: an in-memory chain, or the block.io backend against a fake
 * block.io on 127.0.0.1 whose deposits reach the ledger by webhook, as they would in production.
 */
import { randomBytes } from 'node:crypto';
import type { CoinBackend } from '../../backends/backend.js';
import { BlockioBackend } from '../../backends/blockio/index.js';
import { MemoryChain } from '../../backends/memory/index.js';
import { DEFAULTS } from '../../config/defaults.js';
import { BTC, LTC, type CoinDefinition, type NetworkParams } from '../../domain/coins.js';
import { NOTIFY_UNTIL_CONFIRMATIONS } from '../../devtools/blockio-fake/notifier.js';
import { startFakeBlockio } from '../../devtools/blockio-fake/server.js';
import { applyTransactions } from '../../ledger/chain-sync.js';
import type { CoinLedger } from '../../ledger/coin-ledger.js';
import { BlockioWebhookListener } from '../../notify/index.js';

/** The backends the offline tour can run on. */
export const DEMO_BACKENDS = ['memory', 'blockio-fake'] as const;
export type DemoBackend = (typeof DEMO_BACKENDS)[number];

/** A chain the tour can drive: the backend under the ledger, and somebody else paying and mining. */
export interface DemoWorld {
  readonly title: string;
  readonly coin: CoinDefinition;
  readonly network: NetworkParams;
  readonly backend: CoinBackend;
  /** How the ledger hears of a payment, for the narration. */
  readonly hearing: string;
  pay(address: string, amount: bigint): string;
  mine(blocks: number): void;
  externalAddress(): string;
  /** Bring the ledger up to date with what just happened on the chain; a line to show, if any. */
  catchUp(ledger: CoinLedger): Promise<string | undefined>;
  close(): Promise<void>;
}

export function openWorld(kind: DemoBackend): Promise<DemoWorld> {
  return kind === 'memory' ? Promise.resolve(memoryWorld()) : blockioWorld();
}

function memoryWorld(): DemoWorld {
  const network = BTC.networks.regtest!;
  const chain = new MemoryChain({ network, seed: `demo-${Date.now()}` });
  return {
    title: 'Bitcoin (regtest) on an in-memory chain',
    coin: BTC,
    network,
    backend: chain.createWallet('hot-wallet'),
    hearing: 'the helper service would hear of it from the node',
    pay: (address, amount) => chain.pay(address, amount),
    mine: (blocks) => chain.mine(blocks),
    externalAddress: () => chain.externalAddress(),
    catchUp: async (ledger) => {
      await ledger.scanReceived();
      return undefined;
    },
    close: async () => undefined,
  };
}

/** Nothing of the listener's is shown: the tour narrates what it receives. */
const silent = { info() {}, warn() {}, error() {} };

async function blockioWorld(): Promise<DemoWorld> {
  // A fake block.io with keys of its own; the PIN only opens the user key it keeps encrypted.
  const network = LTC.networks.testnet!;
  const [apiKey, pin] = ['demo-api-key', 'demo-pin'];
  const fake = await startFakeBlockio({ coin: LTC, network, apiKey, pin });
  fake.fund(1_000n); // block.io's tip is derived from a confirmed transaction of the account
  fake.mine(NOTIFY_UNTIL_CONFIRMATIONS); // buried: no more webhooks about it, only about the tour's payments
  const backend = new BlockioBackend({
    config: { type: 'blockio', apiKey, pin, apiUrl: fake.apiUrl, timeoutMs: 10_000, maxFee: 1_000_000n },
    coin: LTC,
    network,
  });
  // The webhook receiver the helper service runs, and its notification created through the backend
  // (block.io pings the URL first); loopback stands in for the public URL of a reverse proxy.
  const heard: string[] = [];
  const listener = new BlockioWebhookListener(
    {
      ...DEFAULTS.walletnotify.blockioWebhook,
      type: 'blockio-webhook',
      port: 0,
      pathSecret: randomBytes(16).toString('hex'),
      publicUrl: null,
    },
    (txid) => void heard.push(txid),
    silent,
  );
  const closeAll = async () => {
    await listener.stop();
    await backend.close();
    await fake.close();
  };
  let notificationId: string;
  try {
    await listener.start();
    notificationId = await backend.notificationApi().createNotification(listener.url);
  } catch (error) {
    await closeAll();
    throw error;
  }
  return {
    title: `Litecoin (testnet) on block.io: a fake block.io at ${fake.apiUrl}`,
    coin: LTC,
    network,
    backend,
    hearing: `block.io posts a webhook to ${listener.status().endpoint}`,
    pay: (address, amount) => fake.pay(address, amount),
    mine: (blocks) => fake.mine(blocks),
    externalAddress: () => fake.externalAddress(),
    catchUp: async (ledger) => {
      await fake.notifier.settled();
      const txids = [...new Set(heard.splice(0))];
      await applyTransactions(ledger, txids);
      return txids.length === 0 ? 'no webhook' : `webhook for ${txids.map((txid) => `${txid.slice(0, 12)}…`).join(', ')}`;
    },
    close: async () => {
      try {
        await backend.notificationApi().deleteNotification(notificationId);
      } finally {
        await closeAll();
      }
    },
  };
}
