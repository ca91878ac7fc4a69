/**
 * The block.io backend's notification API against the fake block.io, and the fake's notification
 * protocol itself, observed from a plain HTTP receiver on 127.0.0.1 that answers as scripted:
 * create pings first and fails when the ping is not answered 2xx; every change of a transaction
 * of the account (payment, confirmations, reorganisation, drop) is delivered with
 * `notification_id` and `delivery_attempt`, retried after non-2xx answers; deleted notifications
 * get nothing more; `list_notifications` lists what exists.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OUTCOME_UNKNOWN } from '../../src/backends/backend.js';
import { BlockioClient } from '../../src/backends/blockio/client.js';
import { BackendError } from '../../src/domain/errors.js';
import { FAKE_API_KEY, startBlockioPair, type BlockioPair } from '../fakes/blockio/harness.js';

/** A webhook receiver: answers each POST with the next scripted status (200 once the script is used up). */
async function receiver(
  statuses: number[] = [],
): Promise<{ url: string; bodies: Record<string, unknown>[]; statuses: number[]; server: Server }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      response.writeHead(statuses.shift() ?? 200);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/blockio/s3cret-path`, bodies, statuses, server };
}

/** What each transaction delivery said: [attempt, txid, confirmations]. */
function deliveries(bodies: readonly Record<string, unknown>[]): [unknown, unknown, unknown][] {
  return bodies
    .filter((body) => body.type === 'account')
    .map((body) => {
      const data = body.data as { txid: unknown; confirmations: unknown };
      return [body.delivery_attempt, data.txid, data.confirmations];
    });
}

describe('block.io notifications on the fake block.io', () => {
  let pair: BlockioPair;
  const servers: Server[] = [];

  afterEach(async () => {
    await pair?.close();
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  async function start(statuses?: number[]) {
    pair = await startBlockioPair({}, { webhookRetryDelayMs: 1 });
    const hook = await receiver(statuses);
    servers.push(hook.server);
    return hook;
  }

  it('creates a notification after its ping, delivers a payment and every change of its confirmations, retrying non-2xx', async () => {
    const hook = await start();
    const id = await pair.backend.notificationApi().createNotification(hook.url);
    expect(hook.bodies).toEqual([{ type: 'ping' }]);
    const client = new BlockioClient({ apiUrl: pair.fake.apiUrl, apiKey: FAKE_API_KEY, timeoutMs: 5_000 });
    expect(await client.call('list_notifications', { page: 1 })).toMatchObject({
      notifications: [{ notification_id: id, type: 'account', enabled: true, url: hook.url }],
    });

    const address = await pair.backend.createAddress('alice');
    const txid = pair.fake.pay(address, 50_000n);
    await pair.fake.notifier.settled();
    expect(hook.bodies[1]).toMatchObject({
      notification_id: id,
      delivery_attempt: 1,
      type: 'account',
      data: { network: 'LTCTEST', txid, confirmations: 0, amount_received: '0.00050000', address },
    });

    // The receiver fails twice: block.io tries again, counting its attempts.
    hook.bodies.length = 0;
    hook.statuses.push(500, 503);
    pair.fake.mine(2);
    await pair.fake.notifier.settled();
    expect(deliveries(hook.bodies)).toEqual([
      [1, txid, 2],
      [2, txid, 2],
      [3, txid, 2],
    ]);

    // A reorganisation takes the confirmations back; a drop ends the transaction.
    hook.bodies.length = 0;
    pair.fake.chain.reorg(2);
    pair.fake.chain.drop(txid);
    await pair.fake.notifier.settled();
    expect(deliveries(hook.bodies)).toEqual([
      [1, txid, 0],
      [1, txid, 0],
    ]);

    await pair.backend.notificationApi().deleteNotification(id);
    hook.bodies.length = 0;
    pair.fake.pay(address, 10_000n);
    await pair.fake.notifier.settled();
    expect(hook.bodies).toEqual([]);
    expect(await client.call('list_notifications', { page: 1 })).toMatchObject({ notifications: [] });
  });

  it('refuses to create a notification whose URL does not answer the ping with 2xx, without quoting the URL', async () => {
    const hook = await start([404]);
    const error = await pair.backend
      .notificationApi()
      .createNotification(hook.url)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/refused create_notification: .*ping/);
    expect((error as Error).message).not.toContain('s3cret-path');
    expect(hook.bodies).toEqual([{ type: 'ping' }]);
    expect(pair.fake.webhooks.list()).toEqual([]);
  });

  it('a create_notification without a clear answer is not repeated: the error says where to look for a stray one', async () => {
    const hook = await start();
    pair.fake.faults.serverErrorNext('create_notification');
    const error = await pair.backend
      .notificationApi()
      .createNotification(hook.url)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: OUTCOME_UNKNOWN, retryable: false });
    expect((error as Error).message).toMatch(/list_notifications/);
    expect(pair.fake.requests.get('create_notification')).toBe(1);
  });

  it('deleting a notification block.io does not have fails loudly', async () => {
    await start();
    await expect(pair.backend.notificationApi().deleteNotification('no-such-notification')).rejects.toThrow(
      /refused delete_notification: Notification not found/,
    );
  });

  it('stops announcing a transaction once it has the configured confirmations', async () => {
    pair = await startBlockioPair({}, { notifyUntilConfirmations: 2 });
    const hook = await receiver();
    servers.push(hook.server);
    await pair.backend.notificationApi().createNotification(hook.url);
    const txid = pair.fake.pay(await pair.backend.createAddress('bob'), 50_000n);
    for (let block = 0; block < 4; block++) pair.fake.mine(1);
    await pair.fake.notifier.settled();
    expect(deliveries(hook.bodies).map(([, , confirmations]) => confirmations)).toEqual([0, 1, 2]);
    expect(deliveries(hook.bodies).every(([, id]) => id === txid)).toBe(true);
  });
});
