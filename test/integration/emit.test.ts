/**
 * Delivery through a real soketi to real pusher-js clients: the library and the CLI.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Broadcast } from '../../src/core/broadcast.js';
import { CanBroadcast } from '../../src/core/events.js';
import { PresenceChannel, PrivateChannel } from '../../src/core/channels.js';
import { runCli } from '../helpers/cli.js';
import { uid } from '../helpers/fixtures.js';
import { listen, settle, type Listener } from '../helpers/listener.js';
import { runMain } from '../helpers/main.js';
import { jsonOf } from '../helpers/schema.js';
import type { SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;

describe('emit delivers to subscribed clients', () => {
  let listener: Listener;
  let other: Listener;
  beforeAll(async () => {
    listener = await listen(server, { user: { id: 7, info: { name: 'Ada' } } });
    other = await listen(server);
  });
  afterAll(() => {
    listener.disconnect();
    other.disconnect();
  });

  it('public, private and presence channels each receive the CLI event exactly once with its data', async () => {
    const id = uid();
    const channels = [`orders-${id}`, `private-admin-${id}`, `presence-room-${id}`];
    for (const c of channels) await listener.subscribe(c);
    // The built binary, as a user runs it.
    const result = await runCli(['emit', channels.join(','), 'order.shipped', '--data', '{"id":42,"items":["a","b"]}', '--json'], { env: server.env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const doc = jsonOf('emit', result.stdout);
    expect(doc).toMatchObject({ ok: true, connection: 'pusher', driver: 'pusher', delivered: true, event: 'order.shipped', channels, requests: 1 });
    const got = await listener.waitFor(3, (r) => r.event === 'order.shipped' && r.channel.endsWith(id));
    await settle();
    expect(listener.received.filter((r) => r.channel.endsWith(id))).toHaveLength(3);
    expect(got.map((r) => r.channel).sort()).toEqual([...channels].sort());
    for (const r of got) expect(r.data).toEqual({ id: 42, items: ['a', 'b'] });
  });

  it('250 channels in one emit all receive the event (three requests)', async () => {
    const id = uid();
    const channels = Array.from({ length: 250 }, (_, i) => `fan-${id}-${i}`);
    await Promise.all(channels.map((c) => listener.subscribe(c)));
    const result = await runMain(['emit', channels.join(','), 'fanout', '--json'], { env: server.env });
    expect(result.code).toBe(0);
    expect(jsonOf('emit', result.stdout).requests).toBe(3);
    const got = await listener.waitFor(250, (r) => r.event === 'fanout' && r.channel.startsWith(`fan-${id}`));
    expect(new Set(got.map((r) => r.channel)).size).toBe(250);
  });

  it('--socket-id excludes only that socket', async () => {
    const channel = `shared-${uid()}`;
    await listener.subscribe(channel);
    await other.subscribe(channel);
    const result = await runMain(['emit', channel, 'ping', '--socket-id', listener.socketId, '--json'], { env: server.env });
    expect(result.code).toBe(0);
    expect(jsonOf('emit', result.stdout)).toMatchObject({ socketId: listener.socketId, delivered: true });
    await other.waitFor(1, (r) => r.channel === channel);
    await settle(500);
    expect(listener.received.filter((r) => r.channel === channel)).toHaveLength(0);
  });

  it('the library sends event classes on their own channels, and skips private ones without a user', async () => {
    const id = uid();
    class OrderShipped extends CanBroadcast {
      declare orderId: string;
      broadcastOn() {
        return [new PrivateChannel(`orders.${this.orderId}`), new PresenceChannel(`shop.${this.orderId}`), `feed-${this.orderId}`];
      }
      override broadcastAs() {
        return 'order.shipped';
      }
    }
    for (const c of [`private-orders.${id}`, `presence-shop.${id}`, `feed-${id}`]) await listener.subscribe(c);
    const broadcast = new Broadcast({}, { env: server.env });
    const sent = await broadcast.channel(new OrderShipped({ orderId: id }));
    expect(sent).toMatchObject({ delivered: true, event: 'order.shipped', requests: 1, skipped: [] });
    const got = await listener.waitFor(3, (r) => r.channel.endsWith(id));
    for (const r of got) expect(r.data).toEqual({ orderId: id });

    const anonymous = new Broadcast({}, { env: server.env, user: () => null });
    const partial = await anonymous.channel(new OrderShipped({ orderId: id }));
    expect(partial.channels).toEqual([`feed-${id}`]);
    expect(partial.skipped.map((s) => s.channel)).toEqual([`private-orders.${id}`, `presence-shop.${id}`]);
    await listener.waitFor(4, (r) => r.channel.endsWith(id));
    await settle();
    expect(listener.received.filter((r) => r.channel.endsWith(id))).toHaveLength(4);
    broadcast.close();
    anonymous.close();
  });

  it('encrypted channels get the payload encrypted, decrypted by the client with the shared secret', async () => {
    const masterKey = Buffer.alloc(32, 7).toString('base64');
    const secure = await listen(server, { masterKey });
    const channel = `private-encrypted-vault-${uid()}`;
    await secure.subscribe(channel);
    const broadcast = new Broadcast({}, { env: { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey } });
    await broadcast.channel([channel, `plain-${uid()}`], 'secret.event', { code: 1234 });
    const [got] = await secure.waitFor(1, (r) => r.channel === channel);
    expect(got!.data).toEqual({ code: 1234 });
    secure.disconnect();
    broadcast.close();
  });

  it('the library sends many events with sendMany: each channel in order, encrypted and multi-channel ones as triggers', async () => {
    const id = uid();
    const masterKey = Buffer.alloc(32, 9).toString('base64');
    const secure = await listen(server, { masterKey });
    const channels = [`many-${id}-0`, `many-${id}-1`, `private-encrypted-many-${id}`];
    for (const c of channels) await secure.subscribe(c);
    const broadcast = new Broadcast({}, { env: { ...server.env, PUSHER_ENCRYPTION_MASTER_KEY_BASE64: masterKey } });
    const events = Array.from({ length: 300 }, (_, i) =>
      i % 50 === 49 ? { channels: [channels[0]!, channels[1]!], event: 'n', data: { i } } : { channel: channels[i % 3]!, event: 'n', data: { i } },
    );
    const progress: number[] = [];
    const result = await broadcast.sendMany(events, { concurrency: 4, onProgress: (p) => progress.push(p.sent), progressIntervalMs: 1 });
    expect(result).toMatchObject({ events: 300, sent: 300, failed: 0, errors: [] });
    expect(result.triggers).toBe(6 + 98); // the two-channel events, and every encrypted one
    const got = await secure.waitFor(306, (r) => r.channel.includes(id));
    for (const c of channels) {
      const ids = got.filter((r) => r.channel === c).map((r) => (r.data as { i: number }).i);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
    expect(got.find((r) => r.channel === channels[2])!.data).toEqual({ i: 2 });
    secure.disconnect();
    broadcast.close();
  });
});
