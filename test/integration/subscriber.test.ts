/**
 * The library's `createSubscriber` against a real soketi: what `listen`, `doctor` and `bench` build on, used
 * as an application would (README "Library: a Node.js subscriber").
 */
import net from 'node:net';
import { Broadcast } from '../../src/core/broadcast.js';
import { ConfigError, DeliveryError, UsageError } from '../../src/core/errors.js';
import { createSubscriber, type MemberChange, type ReceivedEvent } from '../../src/index.js';
import type { PusherConnection } from '../../src/config/schema.js';
import { afterAll, describe, expect, inject, test } from '../helpers/fixtures.js';
import { listen as pusherClient } from '../helpers/listener.js';
import { freePort, type SoketiServer } from '../helpers/soketi.js';

const server = inject('soketi') as SoketiServer;
const connection: PusherConnection = { driver: 'pusher', appId: server.appId, key: server.key, secret: server.secret, host: server.host, port: server.port, scheme: 'http' };
const broadcast = new Broadcast({}, { env: server.env });
afterAll(() => broadcast.close());

describe('createSubscriber', () => {
  test('subscribes to private and presence channels signed locally, and reports events and members', async ({ uid }) => {
    const events: ReceivedEvent[] = [];
    const members: MemberChange[] = [];
    const subscriber = await createSubscriber(connection, {
      user: { id: 42, info: { name: 'Ada' } },
      onEvent: (e) => events.push(e),
      onMember: (m) => members.push(m),
    });
    try {
      expect(subscriber.socketId).toMatch(/^\d+\.\d+$/);
      const room = `presence-lib-${uid}`;
      await Promise.all([subscriber.subscribe(`private-lib-${uid}`), subscriber.subscribe(room)]);
      await subscriber.subscribe(room); // again: already subscribed
      expect(subscriber.members(room)).toEqual([{ id: '42', info: { name: 'Ada' } }]);

      const other = await pusherClient(server, { user: { id: 7, info: {} } });
      await other.subscribe(room);
      await until(() => members.length === 1);
      expect(members[0]).toMatchObject({ channel: room, action: 'added', member: { id: '7' } });
      other.disconnect();

      await broadcast.channel(`private-lib-${uid}`, 'lib.event', { n: 1 });
      await until(() => events.length === 1);
      expect(events[0]).toMatchObject({ channel: `private-lib-${uid}`, event: 'lib.event', data: { n: 1 } });
    } finally {
      subscriber.disconnect();
      subscriber.disconnect(); // safe twice
    }
    await expect(subscriber.subscribe(`after-${uid}`)).rejects.toThrow('The subscriber is disconnected');
  });

  test('refuses what it cannot sign before asking the server', async ({ uid }) => {
    const subscriber = await createSubscriber(connection);
    try {
      await expect(subscriber.subscribe(`presence-nouser-${uid}`)).rejects.toBeInstanceOf(UsageError);
      await expect(subscriber.subscribe(`private-encrypted-nokey-${uid}`)).rejects.toBeInstanceOf(ConfigError);
    } finally {
      subscriber.disconnect();
    }
  });

  test('rejects at once when nothing listens on the port', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(createSubscriber({ ...connection, port })).rejects.toThrow(`Could not reach the WebSocket server at ws://127.0.0.1:${port}: connection refused`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('signal: aborting while connecting rejects; aborting later disconnects and rejects pending subscriptions', async ({ uid }) => {
    const silent = net.createServer(() => {});
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort('SIGINT'), 200);
      const connecting = createSubscriber({ ...connection, port: (silent.address() as net.AddressInfo).port }, { signal: stop.signal });
      await expect(connecting).rejects.toBeInstanceOf(DeliveryError);
      await expect(connecting).rejects.toThrow('Stopped before the WebSocket connection was established');
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }

    const later = new AbortController();
    const subscriber = await createSubscriber(connection, { signal: later.signal });
    const pending = subscriber.subscribe(`pending-${uid}`);
    later.abort('SIGTERM');
    await expect(pending).rejects.toThrow('The subscriber is disconnected');
    await expect(subscriber.subscribe(`after-${uid}`)).rejects.toThrow('The subscriber is disconnected');
  });
});

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
