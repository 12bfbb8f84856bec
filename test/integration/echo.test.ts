/**
 * Laravel Echo against the library, as a Laravel front end uses it: Echo with its defaults (no
 * `authEndpoint`), event names in Echo's namespace (`listen('OrderShipped')`), and "send to others" with the
 * `X-Socket-ID` header. Real Echo and pusher-js clients, a real Node server, the real soketi.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthHandler } from '../../src/auth/handler.js';
import { socketIdFrom } from '../../src/auth/socket-id.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { Channel } from '../../src/core/channels.js';
import { CanBroadcast } from '../../src/core/events.js';
import { afterAll, beforeAll, describe, expect, inject, test } from '../helpers/fixtures.js';
import { Pusher, settle, socketOptions } from '../helpers/listener.js';
import type { SoketiServer } from '../helpers/soketi.js';

const soketi = inject('soketi') as SoketiServer;
const USERS: Record<string, { id: number; name: string }> = { 'token-3': { id: 3, name: 'Linus' }, 'token-4': { id: 4, name: 'Margaret' } };

/** The app's session: a bearer token in Echo's `auth.headers` (what its `bearerToken` option sets). */
const userFromBearer = (req: IncomingMessage) => USERS[String(req.headers.authorization).replace(/^Bearer /, '')] ?? null;

// Laravel Echo is ESM-only; its typings are not needed here.
type Echo = any;
async function newEcho(options: Record<string, unknown>): Promise<Echo> {
  const { default: EchoClass } = (await import('laravel-echo')) as unknown as { default: new (options: Record<string, unknown>) => Echo };
  const echo = new EchoClass({ broadcaster: 'pusher', Pusher, key: soketi.key, ...socketOptions(soketi), ...options });
  echos.push(echo);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Echo did not connect')), 10_000);
    echo.connector.pusher.connection.bind('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return echo;
}
const echos: Echo[] = [];
afterAll(() => {
  for (const echo of echos) echo.disconnect();
});

const close = (server: Server) =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });

/**
 * Listens on localhost:80, where Echo's relative default `/broadcasting/auth` goes when it runs in Node (as
 * in a browser it goes to the page's own origin). Another run of this file may hold the port for a few
 * seconds: wait for it.
 */
async function listenOnPort80(server: Server): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(80, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      throw new Error(`This test serves Echo's default auth endpoint on localhost:80 and cannot: ${code} (port 80 needs root or CAP_NET_BIND_SERVICE, and must be free)`);
    }
  }
}

describe('Laravel Echo with no authEndpoint', () => {
  let server: Server;
  const requests: { path: string | undefined; status: number }[] = [];
  beforeAll(async () => {
    const auth = createAuthHandler(new Broadcast({ channels: { 'orders.{id}': () => true, 'room.{id}': { type: 'presence', authorize: (user) => ({ name: user.name }) } } }, { env: soketi.env }), {
      user: userFromBearer,
    });
    server = createServer((req, res) => {
      res.on('finish', () => requests.push({ path: req.url, status: res.statusCode }));
      void auth(req, res);
    });
    await listenOnPort80(server);
  });
  afterAll(() => close(server));

  test('private() and join() authorize at its default /broadcasting/auth, which the handler answers', async ({ uid }) => {
    const echo = await newEcho({ auth: { headers: { Authorization: 'Bearer token-3' } } });
    expect(echo.connector.options.authEndpoint).toBe('/broadcasting/auth');
    const broadcast = new Broadcast({}, { env: soketi.env });
    try {
      const shipped = new Promise((resolve, reject) => {
        echo.private(`orders.${uid}`)
          .error((e: unknown) => reject(new Error(`private() refused: ${JSON.stringify(e)}`)))
          .subscribed(() => void broadcast.channel(`private-orders.${uid}`, 'order.shipped', { id: 7 }).catch(reject))
          .listen('.order.shipped', resolve);
      });
      const here = new Promise((resolve, reject) => {
        echo.join(`room.${uid}`).here(resolve).error((e: unknown) => reject(new Error(`join() refused: ${JSON.stringify(e)}`)));
      });
      expect(await Promise.all([here, shipped])).toEqual([[{ name: 'Linus' }], { id: 7 }]);
      expect(requests).toEqual([
        { path: '/broadcasting/auth', status: 200 },
        { path: '/broadcasting/auth', status: 200 },
      ]);
      // Without a user the same route refuses, as Laravel's does.
      const anonymous = await newEcho({});
      const refused = await new Promise((resolve) => anonymous.private(`orders.${uid}`).error(resolve));
      expect(refused).toMatchObject({ status: 403 });
    } finally {
      broadcast.close();
    }
  });
});

describe("Echo's event namespace", () => {
  class OrderShipped extends CanBroadcast {
    declare orderId: string;
    broadcastOn() {
      return new Channel(`orders-${this.orderId}`);
    }
  }

  test('with echoNamespace, an event emitted as OrderShipped reaches listen("OrderShipped"); .order.shipped reaches listen(".order.shipped")', async ({ uid }) => {
    const echo = await newEcho({});
    const namespaced = new Broadcast({}, { env: soketi.env, echoNamespace: 'App\\Events' });
    const plain = new Broadcast({}, { env: soketi.env });
    try {
      const heard: { listener: string; data: unknown }[] = [];
      const everything: string[] = [];
      const channel = echo.channel(`orders-${uid}`);
      channel.listenToAll((event: string) => everything.push(event));
      await new Promise<void>((resolve) => channel.subscribed(resolve));
      const arrived = new Promise<void>((resolve) => {
        const hear = (listener: string) => (data: unknown) => {
          heard.push({ listener, data });
          if (heard.length === 3) resolve();
        };
        channel.listen('OrderShipped', hear('OrderShipped')).listen('.order.shipped', hear('.order.shipped'));
      });

      // Sent as given, `OrderShipped` is not what Echo's listener waits for (App\Events\OrderShipped).
      await plain.channel(`orders-${uid}`, 'OrderShipped', { n: 0 });
      const sent = await namespaced.channel(`orders-${uid}`, 'OrderShipped', { n: 1 });
      expect(sent.event).toBe('App\\Events\\OrderShipped');
      await namespaced.channel(new OrderShipped({ orderId: uid, n: 2 }));
      await namespaced.channel(`orders-${uid}`, '.order.shipped', { n: 3 });
      await arrived;
      expect(heard).toEqual([
        { listener: 'OrderShipped', data: { n: 1 } },
        { listener: 'OrderShipped', data: { orderId: uid, n: 2 } },
        { listener: '.order.shipped', data: { n: 3 } },
      ]);
      // listenToAll strips the namespace, and marks names outside it with a dot.
      expect(everything).toEqual(['.OrderShipped', 'OrderShipped', 'OrderShipped', '.order.shipped']);
    } finally {
      namespaced.close();
      plain.close();
    }
  });
});

describe('send to others with socketIdFrom', () => {
  let server: Server;
  let base: string;
  const broadcast = new Broadcast({}, { env: soketi.env });
  beforeAll(async () => {
    // The app's own endpoint: ships an order and tells everyone watching, except whoever asked.
    server = createServer((req, res) => {
      const channel = new URL(req.url!, 'http://app').searchParams.get('channel')!;
      req.resume();
      req.on('end', () => {
        broadcast.channel(channel, 'order.shipped', { by: req.headers['x-name'] }, { socketId: socketIdFrom(req) }).then(
          (result) => res.end(JSON.stringify({ socketId: result.socketId ?? null })),
          (error: Error) => res.writeHead(500).end(error.message),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    broadcast.close();
    await close(server);
  });

  test("an event sent with the Echo client's X-Socket-ID is not delivered to that client, but to the other", async ({ uid }) => {
    const [sender, other] = [await newEcho({}), await newEcho({})];
    const got = { sender: [] as unknown[], other: [] as unknown[] };
    for (const [name, echo] of [['sender', sender], ['other', other]] as const) {
      const channel = echo.channel(`orders-${uid}`).listen('.order.shipped', (data: unknown) => got[name].push(data));
      await new Promise<void>((resolve) => channel.subscribed(resolve));
    }
    // What Echo's axios interceptor does, and what the docs tell other HTTP clients to do: X-Socket-ID: echo.socketId().
    const ship = (name: string, socketId?: string) =>
      fetch(`${base}/orders/ship?channel=orders-${uid}`, { method: 'POST', headers: { 'x-name': name, ...(socketId ? { 'X-Socket-ID': socketId } : {}) } }).then((r) => r.json());
    expect(await ship('sender', sender.socketId())).toEqual({ socketId: sender.socketId() });
    // A malformed header is ignored, not an error: everyone gets that one.
    expect(await ship('forged', 'not-a-socket-id')).toEqual({ socketId: null });
    const deadline = Date.now() + 10_000;
    while ((got.other.length < 2 || got.sender.length < 1) && Date.now() < deadline) await settle(50);
    await settle();
    expect(got.other).toEqual([{ by: 'sender' }, { by: 'forged' }]);
    // Events on one channel arrive in order: the sender got the second one, so the first was withheld.
    expect(got.sender).toEqual([{ by: 'forged' }]);
  });
});
